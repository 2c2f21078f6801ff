// Analysis: token-dynamics categories (boundaries included) and the end-to-end dynamics run, the
// selection view's HTML and token texts, gnuplot plots and metrics.jsonl reading.
#include <gtest/gtest.h>

#include "test_util.h"
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "analysis/dynamics.h"
#include "analysis/plot.h"
#include "analysis/select_view.h"
#include "common/error.h"
#include "common/fileio.h"
#include "data/documents.h"
#include "model/config.h"
#include "model/io.h"
#include "tokenizer/tokenizer.h"

namespace {

using rho::TokenCategory;

using rho_test::TempDir;

// ---------------------------------------------------------------- token dynamics

TEST(Dynamics, CategorizerBoundaries) {
  const double mean = 2.0;
  EXPECT_EQ(rho::categorize(-0.5, 1.0, mean), TokenCategory::HL);
  EXPECT_EQ(rho::categorize(-0.201, 1.0, mean), TokenCategory::HL);
  EXPECT_EQ(rho::categorize(-0.2000000477, 1.0, mean), TokenCategory::LL);  // float32's -0.2
  EXPECT_EQ(rho::categorize(-0.2, 1.0, mean), TokenCategory::LL);  // exactly -0.2: not H->L
  EXPECT_EQ(rho::categorize(-0.2, 3.0, mean), TokenCategory::HH);
  EXPECT_EQ(rho::categorize(0.2, 1.0, mean), TokenCategory::LL);   // exactly 0.2: not L->H
  EXPECT_EQ(rho::categorize(0.2, 3.0, mean), TokenCategory::HH);
  EXPECT_EQ(rho::categorize(0.201, 1.0, mean), TokenCategory::LH);
  EXPECT_EQ(rho::categorize(0.2000000477, 3.0, mean), TokenCategory::HH);
  EXPECT_EQ(rho::categorize(0.7, 5.0, mean), TokenCategory::LH);
  EXPECT_EQ(rho::categorize(0.0, 2.0, mean), TokenCategory::LL);   // last loss == mean: L->L
  EXPECT_EQ(rho::categorize(0.0, 2.0000001, mean), TokenCategory::HH);
  EXPECT_STREQ(rho::category_name(TokenCategory::HL), "H->L");
}

TEST(Dynamics, FitLine) {
  const auto f = rho::fit_line({100, 200, 400}, {2.9, 2.8, 2.6});
  EXPECT_NEAR(f.slope, -0.001, 1e-12);
  EXPECT_NEAR(f.intercept, 3.0, 1e-12);
  EXPECT_THROW(rho::fit_line({3, 3}, {1, 2}), rho::UserError);
}

TEST(Dynamics, ConstructedTrajectories) {
  // Rows: checkpoints; columns: tokens. Float losses as a model would produce them.
  const std::vector<std::vector<float>> columns = {
      {3.0f, 2.5f, 2.0f},    // 0: falls by 1.0                      -> H->L
      {1.0f, 1.5f, 2.0f},    // 1: rises by 1.0                      -> L->H
      {1.2f, 1.1f, 1.0f},    // 2: falls by exactly 0.2, ends low    -> L->L (boundary)
      {3.2f, 3.1f, 3.0f},    // 3: falls by exactly 0.2, ends high   -> H->H (boundary)
      {0.5f, 0.6f, 0.7f},    // 4: rises by exactly 0.2, ends low    -> L->L (boundary)
      {1.2f, 1.1f, 0.99f},   // 5: falls by 0.21                     -> H->L
      {0.5f, 0.5f, 0.5f},    // 6: flat, low                         -> L->L
      {5.0f, 5.0f, 5.0f},    // 7: flat, high                        -> H->H
      {1.0f, 4.0f, 1.0f},    // 8: up and down, fitted slope 0, low  -> L->L
  };
  const size_t C = 3, N = columns.size();
  std::vector<std::vector<float>> losses(C, std::vector<float>(N));
  double last_sum = 0;
  for (size_t i = 0; i < N; ++i) {
    for (size_t c = 0; c < C; ++c) losses[c][i] = columns[i][c];
    last_sum += columns[i][C - 1];
  }
  ASSERT_NEAR(last_sum / double(N), 16.19 / 9, 1e-6);  // the last checkpoint's mean: the L/H line
  const auto s = rho::analyze_dynamics({0, 1, 2}, losses);
  const TokenCategory expected[] = {TokenCategory::HL, TokenCategory::LH, TokenCategory::LL,
                                    TokenCategory::HH, TokenCategory::LL, TokenCategory::HL,
                                    TokenCategory::LL, TokenCategory::HH, TokenCategory::LL};
  for (size_t i = 0; i < N; ++i)
    EXPECT_EQ(s.tokens[i].category, expected[i]) << "token " << i << " dL " << s.tokens[i].dL;
  EXPECT_NEAR(s.tokens[0].dL, -1.0, 1e-6);
  EXPECT_NEAR(s.tokens[8].dL, 0.0, 1e-6);
  EXPECT_EQ(s.counts[int(TokenCategory::HH)], 2);
  EXPECT_EQ(s.counts[int(TokenCategory::LH)], 1);
  EXPECT_EQ(s.counts[int(TokenCategory::HL)], 2);
  EXPECT_EQ(s.counts[int(TokenCategory::LL)], 4);
  // Category curves: H->L is the mean of tokens 0 and 5 at each checkpoint.
  EXPECT_NEAR(s.curves[int(TokenCategory::HL)][0], (3.0 + 1.2) / 2, 1e-6);
  EXPECT_NEAR(s.curves[int(TokenCategory::HL)][2], (2.0 + 0.99) / 2, 1e-6);
}

TEST(Dynamics, UnevenStepsUseTheFittedLine) {
  // Loss falls linearly in the step (slope -0.001) at unevenly spaced checkpoints: dL = -1.0.
  const std::vector<std::vector<float>> losses = {{3.0f}, {2.9f}, {2.8f}, {2.0f}};
  const auto s = rho::analyze_dynamics({0, 100, 200, 1000}, losses);
  EXPECT_NEAR(s.tokens[0].slope, -0.001, 1e-8);
  EXPECT_NEAR(s.tokens[0].dL, -1.0, 1e-5);
  // Fitted against the checkpoint index instead, the same losses give another line.
  EXPECT_NEAR(rho::analyze_dynamics({0, 1, 2, 3}, losses).tokens[0].dL, -0.93, 1e-5);
  EXPECT_THROW(rho::analyze_dynamics({0}, {{1.0f}}), rho::UserError);
}

class AnalysisModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    std::string docs;
    for (int i = 0; i < 50; ++i)
      docs += "{\"text\": \"Betty has " + std::to_string(10 + i) + " apples. She gives away " + std::to_string(i % 7) +
              ".\\nHow many are left? <b>bold</b> & more\"}\n";
    tok_ = new rho::Tokenizer(rho_test::train_test_tokenizer({dir_->write("docs.jsonl", docs)}, dir_->path + "/tok.model", 300));
  }
  static void TearDownTestSuite() {
    delete tok_;
    delete dir_;
  }
  // Saves a random debug model; with `step` >= 0 also a trainer_state.json like a checkpoint's.
  static std::string save_random_model(const std::string& name, uint64_t seed, int64_t step = -1) {
    auto c = rho::preset("debug");
    c.vocab_size = tok_->vocab_size();
    torch::manual_seed(seed);
    rho::LlamaForCausalLM m(c);
    m->init_weights();
    m->tokenizer = tok_->id();
    const std::string dir = dir_->path + "/" + name;
    rho::save_model(dir, m);
    if (step >= 0)
      rho::write_file_atomic(dir + "/trainer_state.json", "{\"step\": " + std::to_string(step) + "}\n");
    return dir;
  }
  static TempDir* dir_;
  static rho::Tokenizer* tok_;
};
TempDir* AnalysisModelTest::dir_ = nullptr;
rho::Tokenizer* AnalysisModelTest::tok_ = nullptr;

TEST_F(AnalysisModelTest, DynamicsEndToEnd) {
  rho::DynamicsOptions o;
  o.tokenizer = tok_->path();
  o.data = dir_->path + "/docs.jsonl";
  o.checkpoints = {save_random_model("ck100", 1, 100), save_random_model("ck200", 2, 200),
                   save_random_model("ck400", 3, 400)};
  o.max_tokens = 300;
  o.seq_len = 64;
  o.out_dir = dir_->path + "/dyn";
  const auto s = rho::run_dynamics(o).summary;
  EXPECT_EQ(s.tokens.size(), 300u);
  EXPECT_EQ(s.x, (std::vector<double>{100, 200, 400}));
  int64_t total = 0;
  for (auto c : s.counts) total += c;
  EXPECT_EQ(total, 300);
  const std::string csv = rho::read_file(o.out_dir + "/tokens.csv");
  EXPECT_EQ(csv.rfind("position,token_id,token,loss_step100,loss_step200,loss_step400,slope,dL,category\n", 0), 0u);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 301);
  const std::string md = rho::read_file(o.out_dir + "/shares.md");
  EXPECT_NE(md.find("| H->L |"), std::string::npos);
  EXPECT_TRUE(rho::file_exists(o.out_dir + "/summary.json"));
  if (rho::gnuplot_available()) EXPECT_TRUE(rho::file_exists(o.out_dir + "/curves.png"));

  // A checkpoint that records no tokenizer: one line naming it and the tokenizer, before any
  // model runs.
  auto c = rho::preset("debug");
  c.vocab_size = tok_->vocab_size() + 1;
  rho::LlamaForCausalLM other(c);
  rho::save_model(dir_->path + "/other", other);
  o.checkpoints.push_back(dir_->path + "/other");
  try {
    rho::run_dynamics(o);
    FAIL();
  } catch (const rho::UserError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(dir_->path + "/other: checkpoint records no tokenizer"), std::string::npos) << msg;
    EXPECT_NE(msg.find(tok_->path()), std::string::npos) << msg;
  }
}

// ---------------------------------------------------------------- selection view

TEST_F(AnalysisModelTest, TokenTextsReassembleTheText) {
  const std::string text = "Betty has 12 apples.\nCaf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x8D\x8E <b>";  // é € 🍎
  const auto ids = tok_->encode(text);
  const auto texts = rho::token_display_texts(*tok_, ids);
  std::string joined;
  for (auto& t : texts) joined += t;
  EXPECT_EQ(joined, text);
}

TEST_F(AnalysisModelTest, SelectViewPage) {
  rho::SelectViewOptions o;
  o.model = save_random_model("m", 10);
  o.ref = save_random_model("r", 11);
  o.tokenizer = tok_->path();
  o.text = "Betty has 12 apples.\nShe gives <b>away</b> 3 & \"more\".";
  o.ratio = 0.5;
  o.out = dir_->path + "/view/page.html";
  const auto views = rho::run_select_view(o);
  const int64_t n = int64_t(views.size()) - 1;
  int64_t selected = 0;
  for (auto& v : views) selected += v.selected;
  EXPECT_EQ(selected, (n + 1) / 2);  // ceil(0.5 n)
  EXPECT_FALSE(views[0].scored);
  // The selected tokens are the ones with the largest excess loss.
  float min_sel = 1e9f, max_unsel = -1e9f;
  for (auto& v : views) {
    if (!v.scored) continue;
    if (v.selected) min_sel = std::min(min_sel, v.excess);
    else max_unsel = std::max(max_unsel, v.excess);
  }
  EXPECT_GE(min_sel, max_unsel);

  const std::string html = rho::read_file(o.out);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<b>"), std::string::npos);  // the text's markup is escaped
  EXPECT_NE(html.find("&lt;"), std::string::npos);
  EXPECT_NE(html.find("&#8629;"), std::string::npos);  // the newline is shown
  size_t marked = 0;
  for (size_t at = html.find("class=\"t s\""); at != std::string::npos; at = html.find("class=\"t s\"", at + 1)) ++marked;
  EXPECT_EQ(int64_t(marked), selected + 1);  // + the legend's sample

  o.text.clear();
  EXPECT_THROW(rho::run_select_view(o), rho::UserError);
}

TEST(SelectView, RenderEscapesHeaderAndTooltips) {
  std::vector<rho::TokenView> t(3);
  t[0].text = "<s>";
  t[1].text = "\"x\" & y";
  t[1].scored = true;
  t[1].excess = 2;
  t[1].selected = true;
  t[2].text = "\n";
  t[2].scored = true;
  t[2].excess = -1;
  const std::string html = rho::render_select_html(t, {"<model>", "ref'", "tok&", 0.6});
  EXPECT_NE(html.find("&lt;model&gt;"), std::string::npos);
  EXPECT_NE(html.find("ref&#39;"), std::string::npos);
  EXPECT_NE(html.find("&quot;x&quot; &amp; y"), std::string::npos);
  EXPECT_EQ(html.find("<s>"), std::string::npos);
  EXPECT_NE(html.find("background:#b2182b"), std::string::npos);  // the largest excess: full red
}

// ---------------------------------------------------------------- plots

TEST(Plot, ReadsMetricSeriesAndRenders) {
  TempDir dir;
  const std::string metrics = dir.write("metrics.jsonl",
                                        "{\"step\": 1, \"loss\": 5.0, \"tokens_seen\": 1000}\n"
                                        "{\"step\": 2, \"loss\": 4.0, \"tokens_seen\": 2000, \"val_loss\": 4.5}\n"
                                        "\n"
                                        "{\"step\": 3, \"loss\": 3.5, \"tokens_seen\": 3000, \"val_loss\": 4.1}\n");
  const auto s = rho::read_metric_series(dir.path, "tokens_seen", "val_loss", "run");
  EXPECT_EQ(s.x, (std::vector<double>{2000, 3000}));
  EXPECT_EQ(s.y, (std::vector<double>{4.5, 4.1}));
  EXPECT_THROW(rho::read_metric_series(metrics, "tokens_seen", "nope", "run"), rho::UserError);
  EXPECT_THROW(rho::read_metric_series(dir.path + "/missing.jsonl", "step", "loss", "run"), rho::UserError);
  if (!rho::gnuplot_available()) GTEST_SKIP() << "gnuplot not installed";
  rho::LossPlotOptions o;
  o.runs = {"clm=" + metrics, "it's slm=" + dir.path};
  o.metric = "loss";
  o.x = "step";
  o.out = dir.path + "/plots/loss.png";
  EXPECT_EQ(rho::run_loss_plot(o), o.out);
  const std::string png = rho::read_file(o.out);
  ASSERT_GT(png.size(), 1000u);
  EXPECT_EQ(png.substr(1, 3), "PNG");
  o.out = dir.path + "/loss.svg";
  rho::run_loss_plot(o);
  EXPECT_NE(rho::read_file(o.out).find("<svg"), std::string::npos);
}

}  // namespace
