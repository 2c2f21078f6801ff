// A minimal protobuf wire-format reader: enough to read sentencepiece's ModelProto without
// protoc or libprotobuf. Every read is bounds-checked; malformed input throws UserError with a
// message the caller prefixes with the file name.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "common/error.h"

namespace rho::tok {

class ProtoReader {
 public:
  explicit ProtoReader(std::string_view data) : p_(data.data()), end_(data.data() + data.size()) {}

  bool done() const { return p_ == end_; }

  // The next field's number and wire type (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
  void next_field(uint32_t* field, uint32_t* wire) {
    const uint64_t key = varint();
    *field = uint32_t(key >> 3);
    *wire = uint32_t(key & 7);
    if (*field == 0) fail("protobuf field number 0");
  }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) fail("truncated protobuf varint");
      const uint8_t b = uint8_t(*p_++);
      v |= uint64_t(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("protobuf varint longer than 10 bytes");
  }
  std::string_view bytes() {
    const uint64_t n = varint();
    if (n > uint64_t(end_ - p_)) fail("protobuf length runs past the end of the data");
    std::string_view s(p_, size_t(n));
    p_ += n;
    return s;
  }
  float fixed32_float() {
    if (end_ - p_ < 4) fail("truncated protobuf fixed32");
    uint32_t u = 0;
    for (int i = 3; i >= 0; --i) u = (u << 8) | uint8_t(p_[i]);  // little-endian on any host
    p_ += 4;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  void skip(uint32_t wire) {
    switch (wire) {
      case 0: varint(); break;
      case 1: advance(8); break;
      case 2: bytes(); break;
      case 5: advance(4); break;
      default: fail("unsupported protobuf wire type " + std::to_string(wire));
    }
  }
  // Reads a field of the expected wire type, or fails naming the field.
  void expect(uint32_t wire, uint32_t want, const char* what) {
    if (wire != want) fail(std::string("protobuf field ") + what + " has the wrong wire type");
  }

 private:
  void advance(size_t n) {
    if (size_t(end_ - p_) < n) fail("truncated protobuf field");
    p_ += n;
  }
  const char* p_;
  const char* end_;
};

}  // namespace rho::tok
