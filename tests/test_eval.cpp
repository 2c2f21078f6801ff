// Evaluation: custom exemplars and their grading, Wilson intervals, generation (KV cache against the
// no-cache reference path, batching, stop strings, the position limit), loss evaluation sets.
#include <set>

#include <gtest/gtest.h>

#include "test_util.h"
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "data/documents.h"
#include "eval/generation/generate.h"
#include "eval/loss/loss_eval.h"
#include "eval/harness/fewshot.h"
#include "eval/harness/math_tasks.h"
#include "data/tokenize.h"
#include "model/model_use.h"
#include "model/config.h"
#include "model/io.h"
#include "tokenizer/tokenizer.h"
#include "train/trainer.h"

namespace {

// Custom exemplars are graded by the one grader, as the harness grades gsm8k: the exemplar's
// "The answer is n." reads back as the record's gold.
TEST(MathGrading, Gsm8kGoldAndExemplars) {
  const std::string sol = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
                          "Natalia sold 48+24 = <<48+24=72>>72 clips altogether.\n#### 1,072";
  const rho::MathTask& gsm8k = rho::math_task("gsm8k");
  const std::string gold = rho::parse_math_record(gsm8k, {{"question", "q"}, {"answer", sol}}, "t.jsonl", 1).gold;
  EXPECT_EQ(gold, "1,072");  // as the harness keeps it; math_equal reads both as 1072
  EXPECT_EQ(rho::strip_calculator(sol).find("<<"), std::string::npos);
  EXPECT_EQ(rho::strip_calculator("a <<b"), "a <<b");  // unclosed: left alone
  const std::string ex = rho::exemplar_answer(sol);
  EXPECT_EQ(ex, "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether.\nThe answer is 1,072.");
  std::string extracted;
  EXPECT_TRUE(rho::grade_math(gsm8k, ex, gold, &extracted));
  EXPECT_EQ(extracted, "1,072");
  EXPECT_FALSE(rho::grade_math(gsm8k, "The answer is 1073.", gold, &extracted));
}

TEST(MathGrading, FewShotPromptLayout) {
  const std::string p = rho::fewshot_prompt({{"q1", "a1"}, {"q2", "a2"}}, "q3");
  EXPECT_EQ(p, "Question: q1\nAnswer: a1\n\nQuestion: q2\nAnswer: a2\n\nQuestion: q3\nAnswer:");
}

TEST(MathGrading, WilsonInterval) {
  auto ci = rho::wilson_interval(5, 10);
  EXPECT_NEAR(ci.lo, 0.2366, 1e-4);
  EXPECT_NEAR(ci.hi, 0.7634, 1e-4);
  ci = rho::wilson_interval(0, 20);
  EXPECT_DOUBLE_EQ(ci.lo, 0.0);
  EXPECT_NEAR(ci.hi, 0.1611, 1e-4);
  ci = rho::wilson_interval(20, 20);
  EXPECT_NEAR(ci.lo, 0.8389, 1e-4);
  EXPECT_DOUBLE_EQ(ci.hi, 1.0);
}

// ---------------------------------------------------------------- models and tokenizers

using rho_test::TempDir;
using rho_test::contains;
using rho_test::error_of;

std::string word_problems(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    const int a = 10 + (i * 7) % 80, b = 2 + i % 9;
    out += "{\"question\": \"Betty has " + std::to_string(a) + " apples and gives away " + std::to_string(b) +
           ". How many are left?\", \"answer\": \"She has " + std::to_string(a) + " - " + std::to_string(b) + " = <<" +
           std::to_string(a) + "-" + std::to_string(b) + "=" + std::to_string(a - b) + ">>" + std::to_string(a - b) +
           " left.\\n#### " + std::to_string(a - b) + "\"}\n";
  }
  return out;
}

class EvalModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    rho::DocFormat f;
    f.template_ = "Question: {question}\nAnswer: {answer}";
    tok_ = new rho::Tokenizer(
        rho_test::train_test_tokenizer({dir_->write("train.jsonl", word_problems(60))}, dir_->path + "/tok.model", 320, f));
  }
  static void TearDownTestSuite() {
    delete tok_;
    delete dir_;
  }
  // A random debug-preset model over the test tokenizer's vocabulary.
  static rho::LlamaForCausalLM random_model(uint64_t seed, int64_t max_positions = 256) {
    auto c = rho::preset("debug");
    c.vocab_size = tok_->vocab_size();
    c.max_position_embeddings = max_positions;
    torch::manual_seed(seed);
    rho::LlamaForCausalLM m(c);
    m->init_weights();
    m->eval();
    return m;
  }
  static TempDir* dir_;
  static rho::Tokenizer* tok_;
};
TempDir* EvalModelTest::dir_ = nullptr;
rho::Tokenizer* EvalModelTest::tok_ = nullptr;

TEST_F(EvalModelTest, KVCacheGreedyEqualsNoCacheGreedy) {
  auto model = random_model(1);
  rho::GenerateOptions g;
  g.max_new_tokens = 40;
  g.stop_at_eos = false;  // a random model may draw EOS early; compare all 40 tokens
  for (const char* prompt : {"Question: Betty has 12 apples", "Answer:", "7"}) {
    const auto ids = tok_->encode(prompt);
    g.use_cache = true;
    const auto cached = rho::generate(model, *tok_, ids, g);
    g.use_cache = false;
    const auto reference = rho::generate(model, *tok_, ids, g);
    EXPECT_EQ(cached.tokens, reference.tokens) << prompt;
    EXPECT_EQ(cached.text, reference.text) << prompt;
    EXPECT_EQ(cached.tokens.size(), 40u);
    EXPECT_EQ(cached.finish, "length");
  }
}

TEST_F(EvalModelTest, BatchedGenerationEqualsOneByOne) {
  auto model = random_model(2);
  rho::GenerateOptions g;
  g.max_new_tokens = 16;
  g.stop_at_eos = false;
  // Prompts of several token lengths (two equal), in batches of 3: each batch is left-padded.
  std::vector<std::vector<int32_t>> prompts = {tok_->encode("Question: 12"), tok_->encode("Question: 34"),
                                               tok_->encode("Answer: She has"), tok_->encode("7"),
                                               tok_->encode("Question: Betty has 12 apples and buys 5 more")};
  ASSERT_EQ(prompts[0].size(), prompts[1].size());
  std::set<size_t> lengths;
  for (auto& p : prompts) lengths.insert(p.size());
  ASSERT_GE(lengths.size(), 3u);
  g.batch_size = 3;
  // A stop string from the middle of prompt 0's greedy text: that row stops early and leaves a
  // padded batch while the others run on.
  const auto probe = rho::generate(model, *tok_, prompts[0], g);
  ASSERT_GE(probe.text.size(), 8u);
  g.stop = {probe.text.substr(probe.text.size() / 2, 3)};
  std::set<std::string> finishes;
  for (bool use_cache : {true, false}) {
    for (double temperature : {0.0, 0.8}) {
      g.use_cache = use_cache;
      g.temperature = temperature;
      g.seed = 5;
      const auto batched = rho::generate_batch(model, *tok_, prompts, g);
      for (size_t i = 0; i < prompts.size(); ++i) {
        auto one = g;
        one.seed = g.seed + i;  // generate_batch seeds prompt i with seed + i
        const auto alone = rho::generate(model, *tok_, prompts[i], one);
        EXPECT_EQ(batched[i].tokens, alone.tokens) << i << " T=" << temperature << " cache " << use_cache;
        EXPECT_EQ(batched[i].text, alone.text) << i;
        EXPECT_EQ(batched[i].finish, alone.finish) << i;
        finishes.insert(batched[i].finish);
      }
    }
  }
  // Both ways of leaving a batch happened: a stop string, and the token budget.
  EXPECT_EQ(finishes, (std::set<std::string>{"length", "stop"}));
}

TEST_F(EvalModelTest, SamplingIsSeededAndTopPOfTinyMassIsGreedy) {
  auto model = random_model(3);
  rho::GenerateOptions g;
  g.max_new_tokens = 24;
  g.stop_at_eos = false;
  g.temperature = 1.0;
  g.seed = 11;
  const auto ids = tok_->encode("Question:");
  const auto a = rho::generate(model, *tok_, ids, g), b = rho::generate(model, *tok_, ids, g);
  EXPECT_EQ(a.tokens, b.tokens);
  g.seed = 12;
  EXPECT_NE(rho::generate(model, *tok_, ids, g).tokens, a.tokens);
  // A nucleus of (almost) no mass keeps only the most likely token: the greedy path.
  g.top_p = 1e-9;
  const auto nucleus = rho::generate(model, *tok_, ids, g);
  g.temperature = 0;
  EXPECT_EQ(nucleus.tokens, rho::generate(model, *tok_, ids, g).tokens);
}

TEST_F(EvalModelTest, StopStringsCutTheText) {
  auto model = random_model(4);
  rho::GenerateOptions g;
  g.max_new_tokens = 40;
  g.stop_at_eos = false;
  const auto ids = tok_->encode("Betty has");
  const auto full = rho::generate(model, *tok_, ids, g);
  ASSERT_GE(full.text.size(), 8u);
  // A stop string taken from the middle of the unconstrained output.
  const std::string stop = full.text.substr(full.text.size() / 2, 3);
  g.stop = {"never appears \x01", stop};
  const auto cut = rho::generate(model, *tok_, ids, g);
  EXPECT_EQ(cut.finish, "stop");
  EXPECT_EQ(cut.text, full.text.substr(0, full.text.find(stop)));
  EXPECT_LE(cut.tokens.size(), full.tokens.size());
}

TEST_F(EvalModelTest, PositionLimitTruncatesPromptAndStops) {
  auto model = random_model(5, /*max_positions=*/16);
  rho::GenerateOptions g;
  g.max_new_tokens = 100;
  g.stop_at_eos = false;
  std::vector<int32_t> long_prompt = tok_->encode(std::string(200, 'a') + " Question: Betty has 12 apples and 3 pears");
  ASSERT_GT(long_prompt.size(), 16u);
  const auto r = rho::generate(model, *tok_, long_prompt, g);
  // 100 new tokens cannot fit in 16 positions: the prompt keeps half of them.
  EXPECT_TRUE(r.prompt_truncated);
  EXPECT_EQ(r.prompt_tokens, 8);
  EXPECT_EQ(r.tokens.size(), 8u);
  EXPECT_EQ(r.finish, "context");
  EXPECT_EQ(rho::prompt_budget(16, 4), 12);
  EXPECT_EQ(rho::prompt_budget(16, 1), 15);
  EXPECT_EQ(rho::prompt_budget(2048, 256), 1792);
  const auto short_prompt = tok_->encode("Betty");
  const auto s = rho::generate(model, *tok_, short_prompt, g);
  EXPECT_EQ(int64_t(s.tokens.size()) + s.prompt_tokens, 16);
  EXPECT_EQ(s.finish, "context");
}

TEST_F(EvalModelTest, ModelMustRecordTheTokenizerAndHoldItsVocabulary) {
  auto save = [&](const std::string& name, int64_t vocab, const rho::TokenizerId& record) {
    auto c = rho::preset("debug");
    c.vocab_size = vocab;
    torch::manual_seed(0);
    rho::LlamaForCausalLM m(c);
    m->tokenizer = record;
    const std::string dir = dir_->path + "/" + name;
    rho::save_model(dir, m);
    return dir;
  };
  const rho::ModelUse use{"model", tok_->id(), 64, false};
  const int64_t V = tok_->vocab_size();
  // A padded vocabulary and the same tokenizer: fine; the record survives save and load.
  const auto padded = save("padded", V + 8, tok_->id());
  EXPECT_EQ(rho::load_model_for(padded, use)->tokenizer.fingerprint, tok_->fingerprint());
  // A smaller vocabulary, another tokenizer of the same size, no record, too few positions.
  const auto small = save("small", V - 1, tok_->id());
  EXPECT_TRUE(contains(error_of([&] { rho::load_model_for(small, use); }), small + ": model has vocab_size"));
  const auto other = save("other", V, {tok_->fingerprint() ^ 1, V, "other.model"});
  const auto msg = error_of([&] { rho::load_model_for(other, use); });
  EXPECT_TRUE(contains(msg, other + ": model was trained with tokenizer")) << msg;
  EXPECT_TRUE(contains(msg, tok_->path())) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  const auto unrecorded = save("unrecorded", V, {});
  EXPECT_TRUE(contains(error_of([&] { rho::load_model_for(unrecorded, use); }), "--allow-unrecorded-tokenizer"));
  auto allowed = use;
  allowed.allow_unrecorded_tokenizer = true;
  EXPECT_EQ(rho::load_model_for(unrecorded, allowed)->config.vocab_size, V);
  auto too_long = use;
  too_long.seq_len = 257;  // the debug preset has 256 positions
  EXPECT_TRUE(contains(error_of([&] { rho::load_model_for(padded, too_long); }), "exceeds its max_position_embeddings"));
}

TEST_F(EvalModelTest, TextSetsScoreEveryTokenAfterTheFirstOnce) {
  const std::string text = "Question: Betty has 12 apples and gives away 3. How many are left?\nAnswer: 9";
  const std::string path = dir_->write("doc.txt", text);
  rho::EvalSetOptions o;
  o.seq_len = 7;
  const auto set = rho::load_eval_set(path, *tok_, o);
  const int64_t stream = int64_t(tok_->encode(text).size()) + 1;  // + EOS
  EXPECT_EQ(set.scored_tokens, stream - 1);
  auto model = random_model(6);
  rho::MeasureOptions eval;
  eval.batch = 3;
  const auto l_windows = rho::sequence_losses(model, set.sequences, eval);
  ASSERT_EQ(int64_t(l_windows.size()), stream - 1);
  // Windows of 8 tokens at stride 7, each scored as its own forward pass over exactly its tokens:
  // every loss, in order.
  std::vector<int32_t> all = tok_->encode(text);
  all.push_back(tok_->eos_id());
  size_t k = 0;
  for (size_t start = 0; start + 1 < all.size(); start += 7) {
    const size_t end = std::min(all.size(), start + 8);
    auto ids = torch::tensor(std::vector<int64_t>(all.begin() + int64_t(start), all.begin() + int64_t(end))).view({1, -1});
    auto direct = rho::per_token_loss(model->forward(ids.slice(1, 0, -1)), ids.slice(1, 1));  // (1, n-1)
    for (int64_t t = 0; t < direct.size(1); ++t, ++k)
      EXPECT_NEAR(l_windows[k], direct[0][t].item<float>(), 1e-5) << "token " << k;
  }
  EXPECT_EQ(int64_t(k), stream - 1);
  // With room for the whole text, the first window's 7 predictions see the same prefixes.
  o.seq_len = 256;
  const auto whole = rho::load_eval_set(path, *tok_, o);
  ASSERT_EQ(whole.sequences.size(), 1u);
  const auto l_whole = rho::sequence_losses(model, whole.sequences, eval);
  for (size_t i = 0; i < 7; ++i) EXPECT_NEAR(l_whole[i], l_windows[i], 1e-5) << i;
}

// `rho eval loss` and the trainer's validation share one token-loss path: the same windows give
// the same loss, with any --batch.
TEST_F(EvalModelTest, EvalLossEqualsTheTrainersValidationLoss) {
  rho::TokenizeOptions to;
  to.tokenizer = tok_->path();
  to.inputs = {dir_->write("val.jsonl", word_problems(40))};
  to.out_dir = dir_->path + "/val_shards";
  rho::DocFormat f;
  f.template_ = "Question: {question}\nAnswer: {answer}";
  rho::tokenize_to_shards(to, f);
  for (const int64_t val_batches : {int64_t(3), int64_t(1000)}) {  // 6 windows; every window
    rho::TrainOptions t;
    t.train_data = t.val_data = {to.out_dir};
    t.out_dir = dir_->path + "/val_run" + std::to_string(val_batches);
    t.seq_len = 16;
    t.micro_batch = 2;
    t.optim.max_steps = 3;
    t.optim.warmup_steps = 1;
    t.val_batches = val_batches;
    const auto r = rho::train(t);
    rho::LossEvalOptions e;
    e.model = r.final_dir;
    e.tokenizer = tok_->path();
    e.data = {to.out_dir};
    e.set.seq_len = 16;
    e.set.max_tokens = val_batches * t.micro_batch * t.seq_len;
    e.eval.batch = 5;
    const auto rows = rho::run_loss_eval(e);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_NEAR(rows[0].loss, r.final_val_loss, 1e-6) << "val_batches " << val_batches;
    if (val_batches == 3) EXPECT_EQ(rows[0].tokens, 6 * 16);
  }
}

TEST_F(EvalModelTest, AnswerOnlyScoresTheAnswerTokens) {
  const std::string path = dir_->write("qa.jsonl", "{\"question\": \"Betty has 12 apples.\", \"answer\": \"She has 12.\"}\n");
  rho::EvalSetOptions o;
  o.answer_only = true;
  o.seq_len = 256;
  const auto set = rho::load_eval_set(path, *tok_, o);
  ASSERT_EQ(set.sequences.size(), 1u);
  const auto& s = set.sequences[0];
  const auto prefix = tok_->encode("Question: Betty has 12 apples.\nAnswer:");
  EXPECT_EQ(s.tokens, tok_->encode("Question: Betty has 12 apples.\nAnswer: She has 12."));
  EXPECT_LE(s.first_scored, int64_t(prefix.size()));
  EXPECT_GE(s.first_scored, int64_t(prefix.size()) - 1);
  // The decoded scored part is the answer (a piece straddling the boundary may bring the colon).
  std::vector<int32_t> scored(s.tokens.begin() + s.first_scored, s.tokens.end());
  const std::string answer_text = tok_->decode(scored);
  EXPECT_NE(answer_text.find("She has 12."), std::string::npos) << answer_text;
  EXPECT_EQ(answer_text.find("Betty"), std::string::npos) << answer_text;
  // Manual check of the numbers: the losses are those of a full forward at the answer positions.
  auto model = random_model(7);
  const auto losses = rho::sequence_losses(model, set.sequences, rho::MeasureOptions{});
  ASSERT_EQ(int64_t(losses.size()), s.scored());
  std::vector<int64_t> all(s.tokens.begin(), s.tokens.end());
  auto ids = torch::tensor(all).view({1, -1});
  auto full = rho::per_token_loss(model->forward(ids.slice(1, 0, -1)), ids.slice(1, 1));  // (1, n-1)
  EXPECT_NEAR(losses.back(), full[0][-1].item<float>(), 1e-5);
  EXPECT_NEAR(losses.front(), full[0][s.first_scored - 1].item<float>(), 1e-5);
  // Records longer than the positions keep the answer and lose the question's start.
  o.seq_len = 5;
  const auto cut = rho::load_eval_set(path, *tok_, o);
  EXPECT_EQ(cut.truncated, 1);
  EXPECT_EQ(int64_t(cut.sequences[0].tokens.size()), 6);
}

TEST_F(EvalModelTest, BadSetsGiveOneLineErrors) {
  rho::EvalSetOptions o;
  o.format.fields = {"nope"};
  const std::string jsonl = dir_->write("f.jsonl", "{\"text\": \"hello\"}\n");
  try {
    rho::load_eval_set(jsonl, *tok_, o);
    FAIL();
  } catch (const rho::UserError& e) {
    EXPECT_NE(std::string(e.what()).find(jsonl + ": line 1: no field \"nope\""), std::string::npos) << e.what();
  }
  const std::string empty = dir_->write("empty.txt", "");
  EXPECT_THROW(rho::load_eval_set(empty, *tok_, rho::EvalSetOptions{}), rho::UserError);
}

}  // namespace
