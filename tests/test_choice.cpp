// Multiple-choice scoring (eval/choice/choice.h): log-likelihoods against values computed by hand (a
// model whose every next-token distribution is uniform) and against a plain forward pass of each
// whole sequence; the shared-prefix path against one sequence at a time; acc and acc_norm; the
// lm-evaluation-harness prompt of each record format.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "eval/choice/choice.h"
#include "measure/token_losses.h"
#include "model/config.h"
#include "model/io.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace {

using nlohmann::json;
using rho_test::contains;
using rho_test::error_of;
using rho_test::TempDir;

class ChoiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    std::string text;
    for (int i = 0; i < 80; ++i)
      text += "{\"text\": \"Question: Which is bigger, " + std::to_string(i) + " or " + std::to_string(i * 3 + 1) +
              "? Answer: the red box holds " + std::to_string(i % 7) + " apples and some pears.\"}\n";
    tok_ = new rho::Tokenizer(rho_test::train_test_tokenizer({dir_->write("text.jsonl", text)}, dir_->path + "/tok.model", 300));
  }
  static void TearDownTestSuite() {
    delete tok_;
    delete dir_;
  }
  // A saved debug model; `uniform`: its output matrix is zero, so every logit is 0.
  static std::string saved_model(const std::string& name, bool uniform, uint64_t seed = 1) {
    auto c = rho::preset("debug");
    c.vocab_size = tok_->vocab_size();
    torch::manual_seed(seed);
    rho::LlamaForCausalLM m(c);
    m->init_weights();
    if (uniform) {
      torch::NoGradGuard g;
      m->lm_head->weight.zero_();
    }
    m->tokenizer = tok_->id();
    const std::string dir = dir_->path + "/" + name;
    rho::save_model(dir, m);
    return dir;
  }
  static std::vector<json> records(const std::string& out, int k = 0) {
    std::ifstream in(out + "/records-" + std::to_string(k) + ".jsonl");
    std::vector<json> r;
    for (std::string line; std::getline(in, line);) r.push_back(json::parse(line));
    return r;
  }
  static TempDir* dir_;
  static rho::Tokenizer* tok_;
};
TempDir* ChoiceTest::dir_ = nullptr;
rho::Tokenizer* ChoiceTest::tok_ = nullptr;

TEST_F(ChoiceTest, UniformModelGivesHandComputedLogLikelihoods) {
  // Under a uniform next-token distribution every token costs log V nats, so a choice's
  // log-likelihood is -(its token count) x log V: fewer tokens win acc; acc_norm divides by
  // characters, so the choice with the fewest tokens per character wins it.
  struct Item {
    std::string context;
    std::vector<std::string> choices;
    int gold;
  };
  const std::vector<Item> items = {
      {"Question: Which is bigger?\nAnswer:", {"7", "the red box holds apples and some pears"}, 0},
      {"Question: What is in the box?\nAnswer:", {"7", "the red box holds apples and some pears"}, 0},
      {"Which box?", {"a red box", "zzqx"}, 1},
  };
  std::string data;
  for (const auto& it : items) data += json({{"context", it.context}, {"choices", it.choices}, {"gold", it.gold}}).dump() + "\n";
  rho::ChoiceOptions o;
  o.models = {saved_model("uniform", true)};
  o.tokenizer = tok_->path();
  o.data = dir_->write("items.jsonl", data);
  o.out_dir = dir_->path + "/out-uniform";
  const auto rows = rho::run_choice_eval(o);
  const auto rec = records(o.out_dir);
  ASSERT_EQ(rec.size(), items.size());
  const double logV = std::log(double(tok_->vocab_size()));
  int correct = 0, correct_norm = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    std::vector<double> ll, norm;
    for (size_t c = 0; c < items[i].choices.size(); ++c) {
      // Token count of the continuation " choice", by hand: whole encoding minus the context's.
      const std::string& ctx = items[i].context;
      const size_t n = tok_->encode(ctx + " " + items[i].choices[c]).size() - tok_->encode(ctx).size();
      ll.push_back(-double(n) * logV);
      norm.push_back(ll.back() / double(items[i].choices[c].size()));
      EXPECT_NEAR(rec[i]["ll"][c].get<double>(), ll.back(), 1e-3) << "item " << i << " choice " << c;
      EXPECT_EQ(rec[i]["lengths"][c].get<int64_t>(), int64_t(items[i].choices[c].size()));
    }
    const int pred = ll[0] >= ll[1] ? 0 : 1, pred_norm = norm[0] >= norm[1] ? 0 : 1;
    EXPECT_EQ(rec[i]["pred"].get<int>(), pred) << i;
    EXPECT_EQ(rec[i]["pred_norm"].get<int>(), pred_norm) << i;
    correct += pred == items[i].gold;
    correct_norm += pred_norm == items[i].gold;
  }
  // The fixture is built so that the two metrics disagree on at least one item.
  EXPECT_NE(correct, correct_norm);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].correct, correct);
  EXPECT_EQ(rows[0].correct_norm, correct_norm);
  EXPECT_DOUBLE_EQ(rows[0].acc, correct / 3.0);
  EXPECT_DOUBLE_EQ(rows[0].acc_norm, correct_norm / 3.0);
}

TEST_F(ChoiceTest, LogLikelihoodsEqualAPlainForwardPass) {
  // ARC form, items of different lengths: shared contexts and padded batches must give each
  // sequence's own values.
  std::vector<json> items;
  std::string data;
  for (int i = 0; i < 7; ++i) {
    items.push_back({{"id", std::to_string(i)},
                     {"question", "Which is bigger, " + std::to_string(i) + std::string(size_t(i), '!') + "?"},
                     {"choices", {{"text", {"7", "the red box", "apples and some pears " + std::to_string(i), "0"}},
                                  {"label", {"A", "B", "C", "D"}}}},
                     {"answerKey", std::string(1, char('A' + i % 4))}});
    data += items.back().dump() + "\n";
  }
  rho::ChoiceOptions o;
  o.models = {saved_model("random", false, 3)};
  o.tokenizer = tok_->path();
  o.data = dir_->write("arc.jsonl", data);
  o.out_dir = dir_->path + "/out-arc";
  o.batch = 3;
  rho::run_choice_eval(o);
  const auto rec = records(o.out_dir);
  ASSERT_EQ(rec.size(), 7u);
  auto model = rho::load_model(o.models[0]);
  model->eval();
  torch::NoGradGuard g;
  for (size_t i = 0; i < rec.size(); ++i) {
    const json& r = items[i];
    const std::string ctx = "Question: " + r["question"].get<std::string>() + "\nAnswer:";
    for (size_t k = 0; k < 4; ++k) {
      const std::string cont = " " + r["choices"]["text"][k].get<std::string>();
      const auto whole = tok_->encode(ctx + cont);
      const size_t nctx = tok_->encode(ctx).size();
      auto ids = torch::tensor(std::vector<int64_t>(whole.begin(), whole.end())).view({1, -1});
      auto logp = torch::log_softmax(model->forward(ids.slice(1, 0, -1)).to(torch::kDouble), -1);  // (1, n-1, V)
      double ll = 0;
      for (size_t t = nctx; t < whole.size(); ++t) ll += logp[0][int64_t(t) - 1][whole[t]].item<double>();
      EXPECT_NEAR(rec[i]["ll"][k].get<double>(), ll, 2e-4) << "item " << i << " choice " << k;
    }
    EXPECT_EQ(rec[i]["gold"].get<int>(), int(i % 4));
  }
}

TEST_F(ChoiceTest, SharedPrefixesEqualOneSequenceAtATime) {
  auto model = rho::load_model(saved_model("random2", false, 4));
  model->eval();
  // Groups whose members share 3, 0 (split into singletons) or all-but-one tokens; some scored
  // targets inside the shared prefix; remainders of different lengths (padding).
  auto seq = [](std::vector<int32_t> t, int64_t first) {
    rho::ScoredSequence s;
    s.tokens = std::move(t);
    s.first_scored = first;
    return s;
  };
  const std::vector<std::vector<rho::ScoredSequence>> groups = {
      {seq({5, 9, 11, 20, 21}, 3), seq({5, 9, 11, 30}, 3), seq({5, 9, 11, 40, 41, 42, 43}, 2)},
      {seq({7, 8}, 1), seq({6, 8, 9}, 1)},
      {seq({3, 4, 5, 6, 7, 8}, 1), seq({3, 4, 5, 6, 7, 9}, 1)},
      {seq({5, 9, 12, 20}, 3), seq({5, 9, 13}, 1)},
  };
  rho::MeasureOptions eval;
  eval.batch = 2;
  const auto shared = rho::shared_prefix_losses(model, groups, eval);
  size_t k = 0;
  for (const auto& g : groups)
    for (const auto& s : g) {
      const auto alone = rho::sequence_losses(model, {s}, eval);
      ASSERT_EQ(shared[k].size(), alone.size()) << k;
      for (size_t t = 0; t < alone.size(); ++t) EXPECT_NEAR(shared[k][t], alone[t], 1e-5) << k << "," << t;
      ++k;
    }
  EXPECT_EQ(k, shared.size());
}

TEST(ChoiceFormats, PromptsAsTheHarnessBuildsThem) {
  auto doc = [](const std::string& f, const std::string& r) { return rho::parse_choice_record(f, json::parse(r), "x.jsonl", 4); };
  auto h = doc("hellaswag", R"J({"activity_label": "Removing ice from car", "ctx_a": "Then, the man writes over the snow.", "ctx_b": "a woman WEARING a coat", "endings": [" [header] Sweeps  the car. ", "drives"], "label": "1"})J");
  EXPECT_EQ(h.contexts[0], "Removing ice from car: Then, the man writes over the snow. A woman wearing a coat");
  // preprocess(): strip, drop "[header]", "  " -> " "; the space after the bracket stays, and
  // the target delimiter adds one (as in the harness).
  EXPECT_EQ(h.choices[0], " Sweeps the car.");
  EXPECT_EQ(h.continuations[0], "  Sweeps the car.");
  EXPECT_EQ(h.gold, 1);
  auto w = doc("winogrande", R"J({"sentence": "Sarah was a much better surgeon than Maria so _ always got the harder cases.", "option1": "Sarah", "option2": "Maria", "answer": "1"})J");
  EXPECT_EQ(w.contexts, (std::vector<std::string>{"Sarah was a much better surgeon than Maria so Sarah", "Sarah was a much better surgeon than Maria so Maria"}));
  EXPECT_EQ(w.continuations[1], " always got the harder cases.");
  EXPECT_EQ(w.gold, 0);
  auto m = doc("mmlu", R"J({"question": " 2+2? ", "subject": "elementary_mathematics", "choices": ["3", "4", "5", "6"], "answer": 1})J");
  EXPECT_EQ(m.description, "The following are multiple choice questions (with answers) about elementary mathematics.\n\n");
  EXPECT_EQ(m.contexts[0], "2+2?\nA. 3\nB. 4\nC. 5\nD. 6\nAnswer:");
  EXPECT_EQ(m.continuations[1], " B");
  auto b = doc("boolq", R"J({"passage": "P.", "question": "is it", "answer": true})J");
  EXPECT_EQ(b.contexts[0], "P.\nQuestion: is it?\nAnswer:");
  EXPECT_EQ(b.gold, 1);
  auto p = doc("piqa", R"J({"goal": "Open a jar", "sol1": "twist", "sol2": "hit", "label": 0})J");
  EXPECT_EQ(p.contexts[0], "Question: Open a jar\nAnswer:");
  auto s = doc("sciq", R"J({"question": "Q", "distractor1": "a", "distractor2": "b", "distractor3": "c", "correct_answer": "d", "support": "  S"})J");
  EXPECT_EQ(s.contexts[0], "S\nQuestion: Q\nAnswer:");
  EXPECT_EQ(s.gold, 3);
  EXPECT_EQ(rho::detect_choice_format(json::parse(R"J({"question": "q", "choices": {"text": ["a"], "label": ["A"]}, "answerKey": "A"})J")), "arc");
  EXPECT_EQ(rho::detect_choice_format(json::parse(R"J({"foo": 1})J")), "");
  const auto msg = error_of([&] { doc("arc", R"J({"question": "q", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "C"})J"); });
  EXPECT_TRUE(contains(msg, "x.jsonl: line 4: arc record answerKey \"C\" is not among the labels")) << msg;
}

}  // namespace
