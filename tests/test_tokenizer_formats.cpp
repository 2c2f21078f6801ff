// Loading tokenizer files: directories, tokenizer_config.json, what is refused and how, and
// that no corrupted or truncated file crashes (each gives one line naming the file).
#include <gtest/gtest.h>

#include <random>

#include <nlohmann/json.hpp>

#include "common/fileio.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace {

using rho_test::contains;
using rho_test::error_of;
using rho_test::TempDir;
using nlohmann::json;

const std::string kFix = rho_test::fixture_dir() + "/tokenizers";

// A tiny byte-level BPE tokenizer.json (also a fuzz seed): "a"+"b" merge, a space is "Ġ", one
// special token that the post-processor appends.
json tiny_json() { return json::parse(rho::read_file(kFix + "/tiny/tokenizer.json")); }

std::string one_line_error(const std::string& path) {
  const std::string msg = error_of([&] { rho::Tokenizer::load(path); });
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_EQ(msg.rfind(path, 0), 0u) << "the message must start with the file: " << msg;
  return msg;
}

}  // namespace

TEST(TokenizerFormats, TinyTokenizerJsonEncodesAsSpecified) {
  TempDir dir;
  const auto path = dir.write("tokenizer.json", tiny_json().dump());
  const auto tok = rho::Tokenizer::load(dir.path);  // a directory means its tokenizer.json
  EXPECT_EQ(tok.path(), path);
  // "ab" merges; " ab" is Ġ a b -> Ġ ab; the special token is matched in the text.
  EXPECT_EQ(tok.encode("ab ab<|end|>"), (std::vector<int32_t>{2, 3, 2, 5}));
  EXPECT_EQ(tok.encode("ab", true), (std::vector<int32_t>{2, 5}));  // the template's suffix
  EXPECT_EQ(tok.eos_id(), 5);
  EXPECT_EQ(tok.bos_id(), -1);
  EXPECT_EQ(tok.encode(""), std::vector<int32_t>{});
  EXPECT_EQ(tok.decode({2, 3, 2, 5}), "ab ab");  // special tokens are skipped
  EXPECT_EQ(tok.vocab_size(), 6);
  EXPECT_EQ(tok.id_to_piece(3), "\u0120");
}

TEST(TokenizerFormats, ConfigDecidesBosEosAndWhetherTheyAreAdded) {
  TempDir dir;
  dir.write("tokenizer.json", tiny_json().dump());
  dir.write("tokenizer_config.json", R"({"bos_token": "c", "eos_token": {"content": "<|end|>"}, "add_bos_token": true, "add_eos_token": false})");
  const auto tok = rho::Tokenizer::load(dir.path);
  EXPECT_EQ(tok.bos_id(), 4);
  EXPECT_EQ(tok.eos_id(), 5);
  EXPECT_EQ(tok.encode("ab", true), (std::vector<int32_t>{4, 2}));

  dir.write("tokenizer_config.json", R"({"bos_token": "nope"})");
  const auto msg = error_of([&] { rho::Tokenizer::load(dir.path); });
  EXPECT_EQ(msg, dir.path + "/tokenizer_config.json: bos_token 'nope' is not in the tokenizer's vocabulary");
}

TEST(TokenizerFormats, DirectoryPrefersTokenizerJsonThenModel) {
  TempDir dir;
  EXPECT_EQ(error_of([&] { rho::Tokenizer::load(dir.path); }), dir.path + ": directory holds neither tokenizer.json nor tokenizer.model");
  dir.write("tokenizer.model", rho::read_file(kFix + "/rho_bpe.model"));
  EXPECT_EQ(rho::Tokenizer::load(dir.path).path(), dir.path + "/tokenizer.model");
  dir.write("tokenizer.json", tiny_json().dump());
  EXPECT_EQ(rho::Tokenizer::load(dir.path).path(), dir.path + "/tokenizer.json");
}

TEST(TokenizerFormats, UnsupportedPartsAreRefusedByName) {
  TempDir dir;
  struct Refusal {
    const char* pointer;  // JSON pointer into tiny_json()
    json value;
    const char* message;
  };
  const std::vector<Refusal> refusals = {
      {"/model/type", "WordPiece", "model type WordPiece is not supported (only BPE)"},
      {"/model/type", "Unigram", "model type Unigram is not supported (only BPE)"},
      {"/normalizer", json{{"type", "Lowercase"}}, "normalizer type Lowercase is not supported"},
      {"/pre_tokenizer", json{{"type", "Whitespace"}}, "pre-tokenizer type Whitespace is not supported"},
      {"/pre_tokenizer", json{{"type", "Split"}, {"pattern", {{"Regex", "\\w+"}}}, {"behavior", "Isolated"}},
       "Split pre-tokenizer regex is not one rho knows (GPT-2, Llama-3, Qwen2): \\w+"},
      {"/decoder", json{{"type", "WordPiece"}}, "decoder type WordPiece is not supported"},
      {"/post_processor", json{{"type", "Foo"}}, "post_processor type Foo is not supported"},
      {"/model/merges", json::array({"a x"}), "merge 'a x' names a token missing from the vocabulary"},
  };
  for (const auto& r : refusals) {
    json j = tiny_json();
    j[json::json_pointer(r.pointer)] = r.value;
    const auto path = dir.write("tokenizer.json", j.dump());
    EXPECT_EQ(one_line_error(path), path + ": " + r.message);
  }
}

TEST(TokenizerFormats, ModelTypesSentencepieceCannotEncodeAreRefused) {
  TempDir dir;
  // A WORD model: the rho_bpe fixture with its trainer_spec.model_type (field 3 of field 2) set to 3.
  std::string bytes = rho::read_file(kFix + "/rho_bpe.model");
  bytes += std::string("\x12\x02\x18\x03", 4);  // a later trainer_spec merges into the first
  const auto path = dir.write("word.model", bytes);
  EXPECT_EQ(one_line_error(path), path + ": not a sentencepiece model (model type WORD is not supported, only UNIGRAM and BPE)");
}

// Every truncation and many random corruptions of both formats: loading either succeeds or
// fails with one line naming the file, and whatever loads encodes without crashing.
TEST(TokenizerFormats, CorruptOrTruncatedFilesNeverCrash) {
  TempDir dir;
  const std::vector<std::pair<std::string, std::string>> originals = {
      {"x.model", rho::read_file(kFix + "/unigram_nfkc.model")},
      {"y.model", rho::read_file(kFix + "/rho_bpe.model")},
      {"tokenizer.json", tiny_json().dump(1)}};
  std::mt19937 rng(3);
  int loaded = 0, refused = 0;
  for (const auto& [name, good] : originals) {
    std::vector<std::string> variants;
    for (size_t cut = 0; cut < good.size(); cut += std::max<size_t>(1, good.size() / 300)) variants.push_back(good.substr(0, cut));
    for (int i = 0; i < 300; ++i) {
      std::string v = good;
      for (int k = 0; k < 1 + int(rng() % 4); ++k) v[rng() % v.size()] = char(rng());
      variants.push_back(v);
    }
    for (const auto& v : variants) {
      const auto path = dir.write(name, v);
      try {
        const auto tok = rho::Tokenizer::load(path);
        tok.encode("Hello  world\n\xff caf\xc3\xa9 <|end|> 1234");
        ++loaded;
      } catch (const rho::UserError& e) {
        const std::string msg = e.what();
        EXPECT_EQ(msg.rfind(path, 0), 0u) << msg;
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
        ++refused;
      }
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(loaded, 0);
}
