// Corpora as they ship: gzip / zstd / plain inputs, directories and globs, damaged compressed
// data named by file and offset, and tokenizing on several threads into identical shards.
#include <gtest/gtest.h>

#include <zlib.h>
#include <zstd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "common/fileio.h"
#include "data/documents.h"
#include "data/input_stream.h"
#include "data/shard.h"
#include "data/tokenize.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;

namespace {

using rho_test::TempDir;
using rho_test::contains;
using rho_test::error_of;

// Text-like JSONL: varied sentences, numbers, a multi-line field, unicode.
std::string corpus(int docs, uint32_t seed) {
  const char* words[] = {"the", "prime", "number", "theorem", "states", "that", "a", "sum", "of", "squares",
                         "is", "bounded", "by", "integral", "x", "proof", "lemma", "gives", "€", "ζ(s)"};
  std::mt19937 rng(seed);
  std::string out;
  for (int d = 0; d < docs; ++d) {
    std::string text;
    const int n = 5 + int(rng() % 60);
    for (int i = 0; i < n; ++i) {
      text += words[rng() % 20];
      text += (rng() % 11 == 0) ? "\\n" : " ";
      if (rng() % 7 == 0) text += std::to_string(rng() % 1000) + " ";
    }
    out += "{\"text\": \"" + text + "\", \"id\": " + std::to_string(d) + "}\n";
  }
  return out;
}

std::string gzip_bytes(const std::string& data, int level = 6) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, uLong(data.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = uInt(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = uInt(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string zstd_bytes(const std::string& data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

std::vector<std::string> docs_of(const std::vector<std::string>& args, rho::DocFormat f = {}) {
  std::vector<std::string> docs;
  rho::for_each_document(args, f, [&](const std::string& d) { docs.push_back(d); });
  return docs;
}

std::string bytes_of(const std::string& path) { return rho::read_file(path); }

}  // namespace

TEST(Corpora, GzipZstdAndPlainGiveTheSameDocuments) {
  TempDir dir;
  const std::string text = corpus(3000, 1);  // > 1 MB of decompressed buffers: several refills
  ASSERT_GT(text.size(), 300000u);
  const auto plain = dir.write("c.jsonl", text);
  const auto gz = dir.write("c.jsonl.gz", gzip_bytes(text));
  const auto zst = dir.write("c.jsonl.zst", zstd_bytes(text));
  // Several gzip members and zstd frames back to back are one stream, as gzip -d and zstd -d read them.
  const size_t cut = text.find('\n', text.size() / 3) + 1;
  const auto gz2 = dir.write("multi.jsonl.gz", gzip_bytes(text.substr(0, cut)) + gzip_bytes(text.substr(cut), 1));
  const auto zst2 = dir.write("multi.jsonl.zst", zstd_bytes(text.substr(0, cut)) + zstd_bytes(text.substr(cut)));
  const auto expected = docs_of({plain});
  ASSERT_EQ(expected.size(), 3000u);
  for (const auto& f : {gz, zst, gz2, zst2}) EXPECT_EQ(docs_of({f}), expected) << f;
  // Plain text too: the whole file, and blank-line blocks.
  const auto txt = dir.write("book.txt.gz", gzip_bytes("one\ntwo\n\nthree\n"));
  EXPECT_EQ(docs_of({txt}), std::vector<std::string>{"one\ntwo\n\nthree\n"});
  rho::DocFormat blocks;
  blocks.split_blank_lines = true;
  EXPECT_EQ(docs_of({txt}, blocks), (std::vector<std::string>{"one\ntwo", "three"}));
}

TEST(Corpora, DamagedCompressedInputNamesTheFileAndOffset) {
  TempDir dir;
  const std::string text = corpus(2000, 2);
  std::string gz = gzip_bytes(text), zst = zstd_bytes(text);
  // Flip bytes in the middle of the compressed data.
  for (std::string* s : {&gz, &zst})
    for (size_t i = s->size() / 2; i < s->size() / 2 + 16; ++i) (*s)[i] = char((*s)[i] ^ 0x5a);
  const auto bad_gz = dir.write("bad.jsonl.gz", gz), bad_zst = dir.write("bad.jsonl.zst", zst);
  for (const auto& path : {bad_gz, bad_zst}) {
    const auto msg = error_of([&] { docs_of({path}); });
    EXPECT_TRUE(contains(msg, path + ": corrupt " + (path == bad_gz ? "gzip" : "zstd") + " data at compressed byte "))
        << msg;
    EXPECT_TRUE(contains(msg, "(uncompressed byte ")) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
  }
  // The offset is where the damage is, give or take the decoder's lookahead (one block).
  const auto msg = error_of([&] { docs_of({bad_gz}); });
  const uint64_t at = std::stoull(msg.substr(msg.find("compressed byte ") + 16));
  EXPECT_GE(at, gz.size() / 2);
  EXPECT_LE(at, gz.size());

  // Cut short: truncated, with where the file ends.
  const std::string full_gz = gzip_bytes(text), full_zst = zstd_bytes(text);
  const auto short_gz = dir.write("short.jsonl.gz", full_gz.substr(0, full_gz.size() / 2));
  const auto short_zst = dir.write("short.jsonl.zst", full_zst.substr(0, full_zst.size() / 2));
  EXPECT_EQ(error_of([&] { docs_of({short_gz}); }).rfind(short_gz + ": truncated gzip data: the file ends at compressed byte " +
                                                         std::to_string(full_gz.size() / 2), 0),
            0u);
  EXPECT_TRUE(contains(error_of([&] { docs_of({short_zst}); }),
                       short_zst + ": truncated zstd data: the file ends at compressed byte " +
                           std::to_string(full_zst.size() / 2)));
  // Not compressed at all, under a .gz name.
  const auto fake = dir.write("fake.jsonl.gz", text);
  EXPECT_TRUE(contains(error_of([&] { docs_of({fake}); }), fake + ": corrupt gzip data at compressed byte "));
  // An empty stream is an empty file, compressed or not.
  const auto empty = dir.write("empty.jsonl.gz", gzip_bytes(""));
  EXPECT_EQ(error_of([&] { docs_of({empty}); }), empty + ": empty file");
}

TEST(Corpora, DirectoriesAndGlobsExpandSorted) {
  TempDir dir;
  fs::create_directories(dir.path + "/owm/sub");
  dir.write("owm/b.jsonl.zst", zstd_bytes("{\"text\": \"b\"}\n"));
  dir.write("owm/a.jsonl.gz", gzip_bytes("{\"text\": \"a\"}\n"));
  dir.write("owm/sub/c.txt", "c");
  dir.write("owm/notes.md", "not a corpus file");
  dir.write("owm/sub/d.json", "{\"text\": \"d\"}\n");
  const auto files = rho::list_inputs({dir.path + "/owm"});
  EXPECT_EQ(files, (std::vector<std::string>{dir.path + "/owm/a.jsonl.gz", dir.path + "/owm/b.jsonl.zst",
                                              dir.path + "/owm/sub/c.txt", dir.path + "/owm/sub/d.json"}));
  EXPECT_EQ(docs_of({dir.path + "/owm"}), (std::vector<std::string>{"a", "b", "c", "d"}));
  // A glob (quoted on the command line, expanded here), then a plain file: argument order kept.
  EXPECT_EQ(rho::list_inputs({dir.path + "/owm/*.jsonl.*", dir.path + "/owm/notes.md"}),
            (std::vector<std::string>{dir.path + "/owm/a.jsonl.gz", dir.path + "/owm/b.jsonl.zst",
                                      dir.path + "/owm/notes.md"}));
  EXPECT_EQ(error_of([&] { rho::list_inputs({dir.path + "/owm/*.parquet"}); }),
            dir.path + "/owm/*.parquet: no input file matches this pattern");
  EXPECT_EQ(error_of([&] { rho::list_inputs({dir.path + "/nope.jsonl"}); }), dir.path + "/nope.jsonl: no such input file");
  fs::create_directories(dir.path + "/empty");
  EXPECT_TRUE(contains(error_of([&] { rho::list_inputs({dir.path + "/empty"}); }), dir.path + "/empty: no .jsonl"));
}

TEST(Corpora, ReaderReportsProgressInFileAndTextBytes) {
  TempDir dir;
  const std::string text = corpus(500, 3);
  const auto gz = dir.write("c.jsonl.gz", gzip_bytes(text));
  rho::DocumentReader reader({gz}, {});
  EXPECT_EQ(reader.file_bytes_total(), fs::file_size(gz));
  std::vector<rho::RawDocument> raw;
  while (reader.next(raw, 1000)) {
  }
  EXPECT_EQ(raw.size(), 500u);
  EXPECT_EQ(reader.file_bytes_read(), fs::file_size(gz));
  EXPECT_EQ(reader.data_bytes_read(), text.size());
}

// One tokenizer for the tokenizing tests.
class Tokenize : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    rho_test::train_test_tokenizer({dir_->write("train.jsonl", corpus(400, 9))}, dir_->path + "/tok.model", 400);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static rho::TokenizeStats run(const std::vector<std::string>& inputs, const std::string& out, int threads,
                                size_t batch_bytes = 1 << 20) {
    rho::TokenizeOptions o;
    o.tokenizer = dir_->path + "/tok.model";
    o.inputs = inputs;
    o.out_dir = out;
    o.shard_tokens = 20000;  // several shards
    o.threads = threads;
    o.batch_bytes = batch_bytes;
    return rho::tokenize_to_shards(o, {});
  }
  static TempDir* dir_;
};
TempDir* Tokenize::dir_ = nullptr;

TEST_F(Tokenize, ShardsAreIdenticalWhateverTheThreadCountAndCompression) {
  TempDir dir;
  const std::string text = corpus(4000, 4);
  const auto plain = dir.write("c.jsonl", text);
  const auto gz = dir.write("c.jsonl.gz", gzip_bytes(text));
  const auto zst = dir.write("c.jsonl.zst", zstd_bytes(text));
  // 2 KB batches: hundreds of batches, finished out of order by the encoders.
  const auto one = run({plain}, dir.path + "/t1", 1, 2048);
  ASSERT_GE(one.shards.size(), 3u);
  EXPECT_EQ(one.text_bytes, text.size());
  struct Variant {
    std::string input;
    int threads;
  };
  for (const Variant& v : {Variant{plain, 2}, Variant{plain, 5}, Variant{gz, 3}, Variant{zst, 2}}) {
    const std::string out = dir.path + "/t" + std::to_string(v.threads) + fs::path(v.input).extension().string();
    const auto other = run({v.input}, out, v.threads, 2048);
    ASSERT_EQ(other.shards.size(), one.shards.size()) << v.input << " x" << v.threads;
    EXPECT_EQ(other.tokens, one.tokens);
    for (size_t i = 0; i < one.shards.size(); ++i)
      EXPECT_EQ(bytes_of(other.shards[i]), bytes_of(one.shards[i])) << v.input << " x" << v.threads << " shard " << i;
  }
  // And the same as encoding each document on its own, in order: the reference.
  const rho::Tokenizer tok = rho::Tokenizer::load(dir_->path + "/tok.model");
  std::vector<int32_t> expected;
  rho::for_each_document(std::vector<std::string>{plain}, {}, [&](const std::string& d) {
    const auto ids = tok.encode(d);
    expected.insert(expected.end(), ids.begin(), ids.end());
    expected.push_back(tok.eos_id());
  });
  std::vector<int32_t> got;
  for (const auto& path : one.shards) {
    const auto shard = rho::Shard::open(path);
    std::vector<int64_t> ids(shard->size());
    shard->read(0, shard->size(), ids.data());
    got.insert(got.end(), ids.begin(), ids.end());
  }
  EXPECT_EQ(got, expected);
}

TEST_F(Tokenize, AFailureInAnyBatchIsTheFirstInFileOrderAndLeavesNoShards) {
  TempDir dir;
  std::string text = corpus(3000, 5);
  // Two bad lines far apart: whichever encoder finishes first, the earlier one is reported.
  auto nth_line = [&](int n) {
    size_t at = 0;
    for (int i = 1; i < n; ++i) at = text.find('\n', at) + 1;
    return at;
  };
  text.insert(nth_line(2500), "{\"text\": 5}\n");
  text.insert(nth_line(1200), "{\"body\": \"no text field\"}\n");
  const auto path = dir.write("bad.jsonl", text);
  for (int threads : {1, 4}) {
    const std::string out = dir.path + "/out" + std::to_string(threads);
    EXPECT_EQ(error_of([&] { run({path}, out, threads, 1024); }), path + ": line 1200: no field \"text\"");
    EXPECT_TRUE(fs::is_empty(out)) << "no shards left behind";
  }
}
