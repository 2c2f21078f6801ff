// Token shards: round trips at both token widths and one clear error per kind of bad file.
#include <gtest/gtest.h>

#include "test_util.h"
#include "tiny.h"
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/fileio.h"
#include "data/shard.h"

namespace fs = std::filesystem;

namespace {

using rho_test::TempDir;
using rho_test::contains;
using rho_test::error_of;

constexpr uint64_t kFingerprint = 0xabcdef;
using rho_test::write_shard;

// Overwrites `bytes` at `offset` of an existing file.
void patch(const std::string& path, size_t offset, const void* bytes, size_t n) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(std::streamoff(offset));
  f.write(static_cast<const char*>(bytes), std::streamsize(n));
}

std::vector<int32_t> ramp(size_t n, uint32_t vocab) {
  std::vector<int32_t> t(n);
  for (size_t i = 0; i < n; ++i) t[i] = int32_t((i * 7919) % vocab);
  return t;
}

}  // namespace

TEST(Shard, RoundTripWith16BitTokens) {
  TempDir dir;
  const auto path = dir.path + "/a.bin";
  const auto tokens = ramp(1000, 65536);
  {
    // Appended in pieces, as tokenize does per document.
    rho::ShardWriter w(path, 0x1234, 65536, 2);
    w.append(tokens.data(), 400);
    w.append(tokens.data() + 400, 600);
    EXPECT_EQ(w.size(), 1000u);
    w.finish();
  }
  EXPECT_EQ(fs::file_size(path), rho::kShardHeaderBytes + 2 * tokens.size());
  const auto shard = rho::Shard::open(path);
  EXPECT_EQ(shard->header().token_bytes, 2u);
  EXPECT_EQ(shard->header().version, 2u);
  EXPECT_EQ(shard->header().tokenizer_fingerprint, 0x1234u);
  EXPECT_EQ(shard->header().vocab_size, 65536u);
  EXPECT_EQ(shard->header().eos_id, 2u);
  ASSERT_EQ(shard->size(), tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) ASSERT_EQ(shard->token(i), tokens[i]) << i;
}

TEST(Shard, RoundTripWith32BitTokens) {
  TempDir dir;
  const auto path = dir.path + "/a.bin";
  auto tokens = ramp(1000, 100000);
  tokens.push_back(99999);
  write_shard(path, tokens, 100000, kFingerprint);
  EXPECT_EQ(fs::file_size(path), rho::kShardHeaderBytes + 4 * tokens.size());
  const auto shard = rho::Shard::open(path);
  EXPECT_EQ(shard->header().token_bytes, 4u);
  ASSERT_EQ(shard->size(), tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) ASSERT_EQ(shard->token(i), tokens[i]) << i;
}

TEST(Shard, EmptyShardOpens) {
  TempDir dir;
  write_shard(dir.path + "/e.bin", {}, 300, kFingerprint);
  EXPECT_EQ(rho::Shard::open(dir.path + "/e.bin")->size(), 0u);
}

TEST(Shard, UnfinishedOrFailedWriterLeavesNoFile) {
  TempDir dir;
  const auto path = dir.path + "/a.bin";
  {
    rho::ShardWriter w(path, 1, 300, 2);
    const int32_t toks[] = {5, 6, 7};
    w.append(toks, 3);
  }
  EXPECT_TRUE(fs::is_empty(dir.path));

  const int32_t bad[] = {5, 300};
  const auto msg = error_of([&] {
    rho::ShardWriter w(path, 1, 300, 2);
    w.append(bad, 2);
  });
  EXPECT_EQ(msg, path + ": token 300 is outside the vocabulary of 300");
  EXPECT_TRUE(fs::is_empty(dir.path));
}

TEST(Shard, MissingFile) {
  TempDir dir;
  const auto path = dir.path + "/missing.bin";
  const auto msg = error_of([&] { rho::Shard::open(path); });
  EXPECT_TRUE(contains(msg, path + ": cannot open shard: No such file")) << msg;
}

TEST(Shard, WrongMagic) {
  TempDir dir;
  const auto path = dir.path + "/a.bin";
  write_shard(path, ramp(10, 300), 300, kFingerprint);
  patch(path, 0, "GPT2TOKS", 8);
  EXPECT_EQ(error_of([&] { rho::Shard::open(path); }),
            path + ": not a rho token shard (bad magic, expected \"RHOTOKS1\")");
}

TEST(Shard, TruncatedFile) {
  TempDir dir;
  const auto path = dir.path + "/a.bin";
  write_shard(path, ramp(10, 300), 300, kFingerprint);
  fs::resize_file(path, fs::file_size(path) - 1);
  const auto msg = error_of([&] { rho::Shard::open(path); });
  EXPECT_TRUE(contains(msg, path + ": truncated: header says 10 tokens")) << msg;

  fs::resize_file(path, 20);  // not even a header
  const auto msg2 = error_of([&] { rho::Shard::open(path); });
  EXPECT_TRUE(contains(msg2, path + ": truncated: 20 bytes")) << msg2;
}

TEST(Shard, TrailingBytes) {
  TempDir dir;
  const auto path = dir.path + "/a.bin";
  write_shard(path, ramp(10, 300), 300, kFingerprint);
  fs::resize_file(path, fs::file_size(path) + 3);
  const auto msg = error_of([&] { rho::Shard::open(path); });
  EXPECT_TRUE(contains(msg, path + ": size mismatch: 3 bytes after the 10 tokens")) << msg;
}

TEST(Shard, BadVersionAndTokenWidth) {
  TempDir dir;
  const auto path = dir.path + "/a.bin";
  write_shard(path, ramp(10, 300), 300, kFingerprint);
  const uint32_t v3 = 3;
  patch(path, 8, &v3, 4);
  EXPECT_EQ(error_of([&] { rho::Shard::open(path); }), path + ": unsupported shard version 3 (this rho reads 1 and 2)");

  write_shard(path, ramp(10, 300), 300, kFingerprint);
  const uint32_t width3 = 3;
  patch(path, 12, &width3, 4);
  EXPECT_EQ(error_of([&] { rho::Shard::open(path); }), path + ": bad token width 3 (expected 2 or 4 bytes)");
}

TEST(Shard, TokenOutsideVocabularyIsRefusedWhenRead) {
  TempDir dir;
  const auto path = dir.path + "/a.bin";
  write_shard(path, ramp(10, 300), 300, kFingerprint);
  const uint16_t big = 300;
  patch(path, rho::kShardHeaderBytes + 2 * 7, &big, 2);
  // Opening reads the header only (no scan at start-up); the bad id is caught when its window is read.
  const auto shard = rho::Shard::open(path);
  std::vector<int64_t> ids(10);
  shard->read(0, 7, ids.data());
  EXPECT_EQ(error_of([&] { shard->read(4, 4, ids.data()); }),
            path + ": token 300 at position 7 >= vocab_size 300 (damaged shard?)");
  EXPECT_TRUE(contains(error_of([&] { shard->read(8, 3, ids.data()); }), "run past the shard's 10 tokens"));
}

// FNV-1a written out again here, byte by byte, over the definition in shard.h: n_tokens, the
// tokenizer fingerprint, then each token as a little-endian int32.
static uint64_t reference_fingerprint(const std::vector<int32_t>& tokens, uint64_t tokenizer_fp) {
  std::vector<unsigned char> bytes;
  auto put = [&](uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes.push_back((unsigned char)(v >> (8 * i)));
  };
  put(tokens.size(), 8);
  put(tokenizer_fp, 8);
  for (int32_t t : tokens) put(uint32_t(t), 4);
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char b : bytes) h = (h ^ b) * 1099511628211ULL;
  return h;
}

TEST(Shard, ContentFingerprintIsStoredWhenWritten) {
  TempDir dir;
  const auto tokens = ramp(200000, 65536);  // several read-back blocks
  write_shard(dir.path + "/a.bin", tokens, 65536, 0x77);
  auto big = ramp(1000, 100000);
  write_shard(dir.path + "/b.bin", big, 100000, 0x77);
  const auto a = rho::Shard::open(dir.path + "/a.bin");
  EXPECT_EQ(a->header().content_fingerprint, reference_fingerprint(tokens, 0x77));
  EXPECT_EQ(a->content_fingerprint(), reference_fingerprint(tokens, 0x77));
  // The token width does not enter it.
  EXPECT_EQ(rho::Shard::open(dir.path + "/b.bin")->content_fingerprint(), reference_fingerprint(big, 0x77));
}

TEST(Shard, Version1ShardsAreStillRead) {
  TempDir dir;
  const auto path = dir.path + "/v1.bin";
  const auto tokens = ramp(500, 300);
  write_shard(path, tokens, 300, 0x99);
  // A version-1 file: the same bytes with version 1 and no stored fingerprint.
  const uint32_t v1 = 1;
  const uint64_t zero = 0;
  patch(path, 8, &v1, 4);
  patch(path, 40, &zero, 8);
  const auto shard = rho::Shard::open(path);
  EXPECT_EQ(shard->header().version, 1u);
  EXPECT_EQ(shard->content_fingerprint(), reference_fingerprint(tokens, 0x99));  // computed from the tokens
  std::vector<int64_t> ids(500);
  shard->read(0, 500, ids.data());
  for (size_t i = 0; i < tokens.size(); ++i) ASSERT_EQ(ids[i], tokens[i]);
}

TEST(Shard, ListShardsExpandsDirectoriesSorted) {
  TempDir dir;
  write_shard(dir.path + "/b_000001.bin", {1}, 300, kFingerprint);
  write_shard(dir.path + "/b_000000.bin", {1}, 300, kFingerprint);
  std::ofstream(dir.path + "/notes.txt") << "not a shard";
  EXPECT_EQ(rho::list_shards(dir.path),
            (std::vector<std::string>{dir.path + "/b_000000.bin", dir.path + "/b_000001.bin"}));
  EXPECT_EQ(rho::list_shards(dir.path + "/b_000001.bin"), std::vector<std::string>{dir.path + "/b_000001.bin"});

  const auto missing = dir.path + "/nothing";
  EXPECT_EQ(error_of([&] { rho::list_shards(missing); }), missing + ": no such shard file or directory");
  fs::create_directory(dir.path + "/empty");
  EXPECT_EQ(error_of([&] { rho::list_shards(dir.path + "/empty"); }),
            dir.path + "/empty: no *.bin shards in this directory");
}
