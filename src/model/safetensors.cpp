#include "model/safetensors.h"

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fileio.h"

namespace rho {
namespace {

struct DtypeInfo {
  const char* name;
  torch::ScalarType type;
  size_t bytes;
};
const DtypeInfo kDtypes[] = {
    {"F64", torch::kDouble, 8}, {"F32", torch::kFloat, 4}, {"F16", torch::kHalf, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kLong, 8}, {"I32", torch::kInt, 4},
    {"I16", torch::kShort, 2}, {"I8", torch::kChar, 1}, {"U8", torch::kByte, 1},
    {"BOOL", torch::kBool, 1}};

const DtypeInfo* dtype_by_name(const std::string& n) {
  for (auto& d : kDtypes) if (n == d.name) return &d;
  return nullptr;
}
const DtypeInfo* dtype_by_type(torch::ScalarType t) {
  for (auto& d : kDtypes) if (t == d.type) return &d;
  return nullptr;
}

}  // namespace

SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& where) {
  if (bytes.size() < 8) fail_file(where, "not a safetensors file (shorter than its 8-byte header length)");
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  if (header_len > bytes.size() - 8)
    fail_file(where, "header length " + std::to_string(header_len) + " exceeds the file size " +
                         std::to_string(bytes.size()));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + int64_t(header_len));
  } catch (const nlohmann::json::exception& e) {
    fail_file(where, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail_file(where, "header is not a JSON object");
  const uint64_t data_start = 8 + header_len, data_len = bytes.size() - data_start;

  SafetensorsFile out;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto& item : header.items()) {
    // Not a structured binding: clang (the fuzz build) cannot capture those in the lambda below.
    const std::string& name = item.key();
    auto& info = item.value();
    if (name == "__metadata__") {
      if (!info.is_object()) fail_file(where, "__metadata__ is not an object");
      for (auto& [k, v] : info.items()) {
        if (!v.is_string()) fail_file(where, "__metadata__." + k + " is not a string");
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    auto bad = [&](const std::string& what) { fail_file(where, "tensor '" + name + "': " + what); };
    if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") || !info.contains("data_offsets"))
      bad("entry needs dtype, shape and data_offsets");
    if (!info["dtype"].is_string()) bad("dtype is not a string");
    const DtypeInfo* dt = dtype_by_name(info["dtype"].get<std::string>());
    if (!dt) bad("unknown dtype " + info["dtype"].get<std::string>());
    if (!info["shape"].is_array()) bad("shape is not an array");
    std::vector<int64_t> shape;
    uint64_t numel = 1;
    for (auto& s : info["shape"]) {
      if (!s.is_number_unsigned()) bad("shape has a negative or non-integer dimension");
      uint64_t d = s.get<uint64_t>();
      if (d > (uint64_t(1) << 40) || (d && numel > (uint64_t(1) << 50) / d)) bad("shape is implausibly large");
      numel *= d;
      shape.push_back(int64_t(d));
    }
    auto& off = info["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      bad("data_offsets must be two non-negative integers");
    uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    if (begin > end || end > data_len)
      bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
          "] fall outside the data section of " + std::to_string(data_len) + " bytes");
    if (end - begin != numel * dt->bytes)
      bad("holds " + std::to_string(end - begin) + " bytes but its shape and dtype need " +
          std::to_string(numel * dt->bytes));
    ranges.emplace_back(begin, end);
    auto t = torch::empty(shape, torch::TensorOptions().dtype(dt->type));
    if (end > begin) std::memcpy(t.data_ptr(), bytes.data() + data_start + begin, end - begin);
    out.tensors[name] = t;
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) fail_file(where, "two tensors' data_offsets overlap");
  return out;
}

std::map<std::string, std::string> tensor_aliases(const SafetensorsFile& file) {
  std::map<std::string, std::string> aliases;
  for (const auto& [name, kept] : file.metadata)
    if (!file.tensors.count(name) && file.tensors.count(kept)) aliases.emplace(name, kept);
  return aliases;
}

SafetensorsFile load_safetensors(const std::string& path) { return parse_safetensors(read_file(path), path); }

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (auto& [name, t0] : tensors) {
    auto t = t0.detach().to(torch::kCPU).contiguous();
    const DtypeInfo* dt = dtype_by_type(t.scalar_type());
    if (!dt) fail_file(path, "cannot store tensor '" + name + "' of dtype " + std::string(c10::toString(t.scalar_type())));
    const uint64_t n = uint64_t(t.numel()) * dt->bytes;
    header[name] = {{"dtype", dt->name}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + n}}};
    offset += n;
    data.push_back(t);
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // keep tensor data 8-byte aligned, as HF does
  const uint64_t hlen = h.size();
  write_file_atomic(path, [&](std::FILE* f) {
    fwrite_checked(f, &hlen, 8, path);
    fwrite_checked(f, h.data(), h.size(), path);
    for (auto& t : data) fwrite_checked(f, t.data_ptr(), size_t(t.numel()) * t.element_size(), path);
  });
}

}  // namespace rho
