// The native tokenizers against their reference libraries: ids made by HF's Rust `tokenizers`
// (tokenizer.json) and by sentencepiece (.model) for a corpus of tricky text, committed under
// tests/fixtures/tokenizers/expected/ (make_expected.sh). The real tokenizer files are fetched
// by scripts/fetch-tokenizers.sh; the small sentencepiece models are committed.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/fileio.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace {

namespace fs = std::filesystem;
const std::string kFix = rho_test::fixture_dir() + "/tokenizers";
const std::string kDeps = rho_test::source_dir() + "/.deps/tokenizers";

struct Case {
  std::string name;  // expected/<name>.jsonl
  std::string path;  // what Tokenizer::load gets
  bool fetched;      // from scripts/fetch-tokenizers.sh rather than committed
  bool spm;          // sentencepiece: also has expected ids for the raw-byte corpus
};

std::vector<Case> cases() {
  return {{"gpt2", kDeps + "/gpt2", true, false},
          {"llama3", kDeps + "/llama3", true, false},
          {"qwen3", kDeps + "/qwen3", true, false},
          {"llama2", kDeps + "/llama2", true, false},
          {"llama2-spm", kDeps + "/llama2-spm/tokenizer.model", true, true},
          {"rho_bpe", kFix + "/rho_bpe.model", false, true},
          {"unigram_nfkc", kFix + "/unigram_nfkc.model", false, true},
          {"bpe_nfkc", kFix + "/bpe_nfkc.model", false, true}};
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path, std::ios::binary);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<std::string> corpus_texts() {
  std::vector<std::string> out;
  for (const auto& l : lines_of(kFix + "/corpus.jsonl")) out.push_back(nlohmann::json::parse(l).at("text"));
  return out;
}

struct Expected {
  std::vector<int32_t> ids, special;
};
std::vector<Expected> expected(const std::string& file) {
  std::vector<Expected> out;
  for (const auto& l : lines_of(file)) {
    const auto j = nlohmann::json::parse(l);
    out.push_back({j.at("ids").get<std::vector<int32_t>>(), j.at("special").get<std::vector<int32_t>>()});
  }
  return out;
}

// A fetched tokenizer that is missing fails the test with the fix, unless the run opted out.
bool available(const Case& c) {
  if (fs::exists(c.path)) return true;
  if (const char* skip = std::getenv("RHO_SKIP_TOKENIZER_DOWNLOADS"); skip && std::string(skip) == "1") return false;
  ADD_FAILURE() << c.path << " is missing: run scripts/fetch-tokenizers.sh (or set RHO_SKIP_TOKENIZER_DOWNLOADS=1)";
  return false;
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }  // test names, not bytes

class Parity : public ::testing::TestWithParam<Case> {};

void check(const rho::Tokenizer& tok, const std::vector<std::string>& texts, const std::vector<Expected>& want) {
  ASSERT_EQ(texts.size(), want.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(tok.encode(texts[i]), want[i].ids) << "text " << i << ": " << nlohmann::json(texts[i]).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    EXPECT_EQ(tok.encode(texts[i], true), want[i].special) << "text " << i << " with special tokens";
  }
}

TEST_P(Parity, IdsEqualTheReferenceLibrarysOnTrickyText) {
  const Case& c = GetParam();
  if (!available(c)) GTEST_SKIP() << "RHO_SKIP_TOKENIZER_DOWNLOADS=1";
  const auto tok = rho::Tokenizer::load(c.path);
  check(tok, corpus_texts(), expected(kFix + "/expected/" + c.name + ".jsonl"));
  if (c.spm) {  // invalid UTF-8 too: sentencepiece reads each bad byte as U+FFFD
    auto raw = lines_of(kFix + "/corpus_bytes.txt");
    check(tok, raw, expected(kFix + "/expected/" + c.name + "_bytes.jsonl"));
  }
}

TEST_P(Parity, EncodeIsThreadSafe) {
  const Case& c = GetParam();
  if (!available(c)) GTEST_SKIP() << "RHO_SKIP_TOKENIZER_DOWNLOADS=1";
  const auto tok = rho::Tokenizer::load(c.path);
  const auto texts = corpus_texts();
  const auto want = expected(kFix + "/expected/" + c.name + ".jsonl");
  std::vector<int> wrong(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round)
        for (size_t i = 0; i < texts.size(); ++i) wrong[size_t(t)] += tok.encode(texts[(i + size_t(t) * 7) % texts.size()]) != want[(i + size_t(t) * 7) % texts.size()].ids;
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(wrong[size_t(t)], 0) << "thread " << t;
}

TEST_P(Parity, FingerprintIsTheFilesHash) {
  const Case& c = GetParam();
  if (!available(c)) GTEST_SKIP() << "RHO_SKIP_TOKENIZER_DOWNLOADS=1";
  const auto tok = rho::Tokenizer::load(c.path);
  const std::string bytes = rho::read_file(tok.path());
  EXPECT_EQ(tok.fingerprint(), rho::fnv1a64(bytes.data(), bytes.size()));
  EXPECT_TRUE(tok.path().size() > 6 && (tok.path().substr(tok.path().size() - 6) == ".model" ||
                                        tok.path().substr(tok.path().size() - 5) == ".json"));
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, Parity, ::testing::ValuesIn(cases()), [](const auto& info) {
  std::string n = info.param.name;
  for (char& ch : n) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return n;
});

// Byte-level tokenizers are lossless on text: decode(encode(text)) is the text. (Invalid UTF-8
// encodes byte by byte too, but decodes to U+FFFD as HF's decoder does.)
TEST(TokenizerParity, ByteLevelRoundTripsEveryText) {
  for (const char* name : {"gpt2", "llama3"}) {
    const Case c{name, kDeps + "/" + name, true, false};
    if (!available(c)) continue;
    const auto tok = rho::Tokenizer::load(c.path);
    for (const auto& t : corpus_texts()) {
      if (t.find("<|") != std::string::npos) continue;  // special tokens are skipped by decode
      EXPECT_EQ(tok.decode(tok.encode(t)), t) << name;
    }
  }
}

// What the tokenizer files and their tokenizer_config.json say about sizes and BOS/EOS.
TEST(TokenizerParity, VocabularySizesAndSpecialIdsComeFromTheFiles) {
  struct Want {
    const char* name;
    int32_t vocab, bos, eos;
  };
  // Llama-3.1's tokenizer_config.json names <|eot_id|> (128009) as EOS, not <|end_of_text|>.
  for (const Want& w : {Want{"gpt2", 50257, 50256, 50256}, Want{"llama3", 128256, 128000, 128009},
                        Want{"qwen3", 151669, -1, 151645}, Want{"llama2", 32000, 1, 2}}) {
    const Case c{w.name, kDeps + "/" + w.name, true, false};
    if (!available(c)) continue;
    const auto tok = rho::Tokenizer::load(c.path);
    EXPECT_EQ(tok.vocab_size(), w.vocab) << w.name;
    EXPECT_EQ(tok.bos_id(), w.bos) << w.name;
    EXPECT_EQ(tok.eos_id(), w.eos) << w.name;
  }
}

}  // namespace
