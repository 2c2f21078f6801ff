// Tokenizer training and loading: lossless round trips, byte fallback, fingerprints, errors.
// Training goes through rho_test::train_tokenizer_or_error (RHO_TOK in a sanitized build).
#include <gtest/gtest.h>

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "common/error.h"
#include "common/fileio.h"
#include "data/documents.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace {

using rho_test::TempDir;
using rho_test::contains;
using rho_test::error_of;

// A few KB of GSM8K-like word problems as JSONL.
std::string word_problems(int n, uint32_t seed) {
  const char* names[] = {"Natalia", "Weng", "Betty", "Julie", "James", "Albert"};
  const char* things[] = {"clips", "apples", "pages", "dollars", "books", "pizzas"};
  std::mt19937 rng(seed);
  std::string out;
  for (int i = 0; i < n; ++i) {
    const std::string name = names[rng() % 6], thing = things[rng() % 6];
    const int a = int(rng() % 90) + 10, b = int(rng() % 9) + 2;
    out += "{\"question\": \"" + name + " has " + std::to_string(a) + " " + thing + " and gives away " +
           std::to_string(b) + " of them. How many " + thing + " does " + name + " have left?\", ";
    out += "\"answer\": \"" + name + " has " + std::to_string(a) + " - " + std::to_string(b) + " = <<" +
           std::to_string(a) + "-" + std::to_string(b) + "=" + std::to_string(a - b) + ">>" +
           std::to_string(a - b) + " " + thing + " left.\\n#### " + std::to_string(a - b) + "\"}\n";
  }
  return out;
}

rho::DocFormat gsm_format() {
  rho::DocFormat f;
  f.template_ = "Question: {question}\nAnswer: {answer}";
  return f;
}

// Trains a tokenizer on GSM8K-style JSONL; returns the error message ("" on success).
std::string train(const std::vector<std::string>& inputs, const std::string& out, int vocab_size) {
  return rho_test::train_tokenizer_or_error(inputs, out, vocab_size, gsm_format());
}

// One tokenizer trained for the whole suite: training is the slow part.
class TokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const std::string err = train({dir_->write("train.jsonl", word_problems(60, 1))}, dir_->path + "/tok.model", 384);
    ASSERT_EQ(err, "");
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string model_path() { return dir_->path + "/tok.model"; }
  static TempDir* dir_;
};
TempDir* TokenizerTest::dir_ = nullptr;

}  // namespace

TEST_F(TokenizerTest, HasLlamaSpecialIdsAndRequestedSize) {
  const auto tok = rho::Tokenizer::load(model_path());
  EXPECT_EQ(tok.vocab_size(), 384);
  EXPECT_EQ(tok.id_to_piece(0), "<unk>");
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_EQ(tok.path(), model_path());
  EXPECT_TRUE(rho::file_exists(dir_->path + "/tok.vocab"));
}

TEST_F(TokenizerTest, RoundTripIsLossless) {
  const auto tok = rho::Tokenizer::load(model_path());
  const std::vector<std::string> texts = {
      "Question: Natalia has 48 clips.\n\nAnswer: 48 - 2 = <<48-2=46>>46\n#### 46",
      "\n\n",
      "  leading spaces and\ttabs  ",
      "1234567890",
      "caf\xc3\xa9 \xf0\x9f\x98\x80 unseen bytes ~`|",  // é and an emoji never appear in training
  };
  for (const auto& text : texts) {
    const auto ids = tok.encode(text);
    EXPECT_EQ(tok.decode(ids), text);
    for (int32_t id : ids) EXPECT_NE(id, 0) << "byte fallback should leave no <unk> in " << text;
  }
}

TEST_F(TokenizerTest, NewlinesUseByteFallbackAndDigitsAreSplit) {
  const auto tok = rho::Tokenizer::load(model_path());
  const auto nl = tok.encode("\n\n");
  ASSERT_EQ(nl.size(), 2u);
  EXPECT_EQ(tok.id_to_piece(nl[0]), "<0x0A>");
  EXPECT_EQ(nl[1], nl[0]);

  const auto digits = tok.encode("2024");
  ASSERT_EQ(digits.size(), 4u);
  EXPECT_EQ(tok.id_to_piece(digits[0]), "2");
  EXPECT_EQ(tok.id_to_piece(digits[3]), "4");
}

TEST_F(TokenizerTest, FingerprintIsTheModelFilesHash) {
  const auto a = rho::Tokenizer::load(model_path());
  const auto b = rho::Tokenizer::load(model_path());
  const std::string bytes = rho::read_file(model_path());
  EXPECT_EQ(a.fingerprint(), b.fingerprint());
  EXPECT_EQ(a.fingerprint(), rho::fnv1a64(bytes.data(), bytes.size()));

  const std::string other = dir_->path + "/other/tok.model";  // parent directory is created
  ASSERT_EQ(train({dir_->write("other.jsonl", word_problems(60, 2))}, other, 400), "");
  EXPECT_NE(rho::Tokenizer::load(other).fingerprint(), a.fingerprint());
}

TEST_F(TokenizerTest, TrainingIsDeterministic) {
  ASSERT_EQ(train({dir_->path + "/train.jsonl"}, dir_->path + "/again.model", 384), "");
  // Same pieces and scores. The fingerprints differ: the model records its training options,
  // including the temporary corpus file's name.
  EXPECT_EQ(rho::read_file(dir_->path + "/again.vocab"), rho::read_file(dir_->path + "/tok.vocab"));
}

TEST(Tokenizer, MissingEmptyAndGarbageModelsNameTheFile) {
  TempDir dir;
  const auto missing = dir.path + "/missing.model";
  EXPECT_EQ(error_of([&] { rho::Tokenizer::load(missing); }), missing + ": no such tokenizer model file");

  const auto empty = dir.write("empty.model", "");
  EXPECT_TRUE(contains(error_of([&] { rho::Tokenizer::load(empty); }), empty + ": empty file"));

  const auto garbage = dir.write("garbage.model", "this is not a protobuf \xff\xfe\x01\x02 at all");
  const auto msg = error_of([&] { rho::Tokenizer::load(garbage); });
  EXPECT_TRUE(contains(msg, garbage + ": not a sentencepiece model")) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

TEST(Tokenizer, TrainingOnAMissingInputNamesIt) {
  TempDir dir;
  const std::string out = dir.path + "/tok.model";
  EXPECT_TRUE(contains(train({dir.path + "/nope.jsonl"}, out, 384), dir.path + "/nope.jsonl: "));
  EXPECT_FALSE(rho::file_exists(out));
}

TEST_F(TokenizerTest, TooSmallVocabularySaysWhy) {
  const std::string out = dir_->path + "/small.model";
  // 259 byte and special pieces leave too little for the characters
  const auto msg = train({dir_->path + "/train.jsonl"}, out, 270);
  EXPECT_TRUE(contains(msg, "tokenizer training failed: Vocabulary size is smaller than required_chars")) << msg;
  EXPECT_FALSE(rho::file_exists(out));
}
