// Scoring at corpus scale: score dtypes (f16 / bf16 against torch's own conversions), ranks that
// split the work leaving the same bytes as one process, resuming inside a shard, a short last
// shard scored and trained on consistently, and how much f16 scores change the selection.
#include <gtest/gtest.h>

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "common/fileio.h"
#include "data/shard.h"
#include "model/io.h"
#include "scoring/score_set.h"
#include "scoring/scorer.h"
#include "selection/objective.h"
#include "test_util.h"
#include "tiny.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace {

using rho_test::TempDir;
using rho_test::contains;
using rho_test::error_of;

constexpr int64_t kVocab = 61, kT = 12;

// Text-like tokens: a sparse bigram chain (each token has a few likely successors), so that
// a model can learn it and losses spread the way real ones do.
std::string write_shard(const std::string& path, uint64_t n, uint32_t seed) {
  std::mt19937 rng(seed), chain(1234);  // one chain for every shard
  std::vector<std::array<int32_t, 4>> next(kVocab);
  for (auto& succ : next)
    for (auto& t : succ) t = int32_t(3 + chain() % (kVocab - 3));
  std::vector<int32_t> toks;
  int32_t cur = 3;
  for (uint64_t i = 0; i < n; ++i) {
    const uint32_t r = rng() % 16;
    cur = r < 10 ? next[size_t(cur)][0] : r < 13 ? next[size_t(cur)][1] : r < 15 ? next[size_t(cur)][2] : int32_t(3 + rng() % (kVocab - 3));
    toks.push_back(i % 97 == 96 ? 2 : cur);  // an EOS now and then
  }
  return rho_test::write_shard(path, toks, kVocab, 7);
}

std::string save_reference(const std::string& dir, uint64_t seed) {
  return rho_test::save_tiny_model(dir, kVocab, seed, {7, kVocab, "test shards"});
}

rho::ScoreOptions score_opts(const std::string& model, const std::vector<std::string>& data, const std::string& out) {
  rho::ScoreOptions so;
  so.model = model;
  so.data = data;
  so.out_dir = out;
  so.seq_len = kT;
  so.batch = 4;
  so.save_every = 3;
  return so;
}

std::string bytes_of(const std::string& path) { return rho::read_file(path); }

// Every file of `dir`, by name (nothing but score files may be left).
std::map<std::string, std::string> files_of(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out[e.path().filename().string()] = bytes_of(e.path().string());
  return out;
}

}  // namespace

TEST(ScoreDtype, ConversionsRoundLikeTorch) {
  std::mt19937 rng(3);
  std::vector<float> values = {0.f, -0.f, 1.f, 65504.f, 65519.99f, 65520.f, 1e9f, 6.1e-5f, 6.0e-8f, 2.9e-8f,
                               3.0e-8f, 1e-30f, 0.5f + 1.f / 4096, std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::denorm_min()};
  // Random bit patterns cover every exponent; random losses cover the range that matters.
  for (int i = 0; i < 200000; ++i) {
    uint32_t u = uint32_t(rng());
    float f;
    std::memcpy(&f, &u, 4);
    values.push_back(f);
    values.push_back(std::uniform_real_distribution<float>(0.f, 20.f)(rng));
  }
  int64_t checked = 0;
  for (float v : values) {
    const c10::Half h(v);
    const c10::BFloat16 b(v);
    if (std::isnan(v)) {
      EXPECT_TRUE(std::isnan(rho::f16_to_float(rho::float_to_f16(v))));
      EXPECT_TRUE(std::isnan(rho::bf16_to_float(rho::float_to_bf16(v))));
      continue;
    }
    ASSERT_EQ(rho::float_to_f16(v), h.x) << v;
    ASSERT_EQ(rho::float_to_bf16(v), b.x) << v;
    ASSERT_EQ(rho::f16_to_float(h.x), float(h)) << v;
    ASSERT_EQ(rho::bf16_to_float(b.x), float(b)) << v;
    ++checked;
  }
  EXPECT_GT(checked, 300000);
}

TEST(ScoreDtype, FilesOfEachDtypeReadBackAsTheirRoundedValues) {
  TempDir dir;
  std::vector<float> v = {std::nanf(""), 0.f, 1.2345678f, 7.5f, 19.99f, 3.3e-3f};
  for (auto d : {rho::ScoreDtype::F32, rho::ScoreDtype::F16, rho::ScoreDtype::BF16}) {
    rho::ScoreHeader h;
    h.dtype = d;
    h.n_scores = v.size();
    h.seq_len = 5;
    const std::string path = dir.path + "/" + rho::to_string(d) + ".scores";
    rho::write_score_file(path, h, v.data());
    EXPECT_EQ(fs::file_size(path), 64 + v.size() * rho::score_dtype_bytes(d));
    const auto f = rho::ScoreFile::open(path);
    EXPECT_EQ(f->header().version, 2u);
    EXPECT_EQ(f->header().dtype, d);
    const auto back = f->read_all();
    EXPECT_TRUE(std::isnan(back[0]));
    for (size_t i = 1; i < v.size(); ++i) {
      const float want = d == rho::ScoreDtype::F32 ? v[i] : d == rho::ScoreDtype::F16 ? float(c10::Half(v[i])) : float(c10::BFloat16(v[i]));
      EXPECT_EQ(back[i], want) << rho::to_string(d) << " " << v[i];
    }
  }
  EXPECT_EQ(error_of([] { rho::parse_score_dtype("fp8"); }), "unknown score dtype \"fp8\" (expected f32, f16 or bf16)");
}

TEST(ScoreFileFormat, Version1FilesAreStillRead) {
  TempDir dir;
  std::vector<float> v = {std::nanf(""), 1.5f, 2.25f};
  rho::ScoreHeader h;
  h.n_scores = 3;
  h.shard_fingerprint = 11;
  h.model_fingerprint = 12;
  h.seq_len = 2;
  const std::string path = dir.path + "/v1.scores";
  rho::write_score_file(path, h, v.data());
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    const uint32_t one = 1;
    f.seekp(8);
    f.write(reinterpret_cast<const char*>(&one), 4);
  }
  const auto f = rho::ScoreFile::open(path);
  EXPECT_EQ(f->header().version, 1u);
  EXPECT_TRUE(f->header().same_content(h));
  EXPECT_EQ(f->read_all()[2], 2.25f);
  // Version 1 knew only float32.
  {
    std::fstream g(path, std::ios::in | std::ios::out | std::ios::binary);
    const uint32_t f16 = 2;
    g.seekp(12);
    g.write(reinterpret_cast<const char*>(&f16), 4);
  }
  EXPECT_EQ(error_of([&] { rho::ScoreFile::open(path); }), path + ": unsupported score dtype 2 in a version 1 file");
}

// Ranks split the batches of every shard and never talk: run them one after another, in any
// order, and the files are the bytes one process writes.
TEST(Scoring, RanksLeaveTheBytesOneProcessWrites) {
  TempDir tmp;
  const std::vector<std::string> shards = {write_shard(tmp.path + "/data/a.bin", 2000, 1),
                                           write_shard(tmp.path + "/data/b.bin", 150, 2),
                                           write_shard(tmp.path + "/data/c.bin", 7, 3)};  // short: no window
  const auto model = save_reference(tmp.path + "/ref", 9);
  for (auto dtype : {rho::ScoreDtype::F32, rho::ScoreDtype::F16}) {
    const auto splits = dtype == rho::ScoreDtype::F32
                            ? std::vector<std::vector<int>>{{0, 1}, {2, 0, 1}, {4, 1, 3, 0, 2}}
                            : std::vector<std::vector<int>>{{1, 0}};
    auto one = score_opts(model, {tmp.path + "/data"}, tmp.path + "/one_" + rho::to_string(dtype));
    one.dtype = dtype;
    const auto st = rho::score_shards(one);
    EXPECT_EQ(st.shards_scored, 3);
    const auto expected = files_of(one.out_dir);
    ASSERT_EQ(expected.size(), 3u);
    for (const std::vector<int>& order : splits) {
      auto split = one;
      split.world = int(order.size());
      split.out_dir = one.out_dir + "_w" + std::to_string(split.world);
      for (int r : order) {
        split.rank = r;
        rho::score_shards(split);
      }
      EXPECT_EQ(files_of(split.out_dir), expected) << "world " << split.world << " " << rho::to_string(dtype);
    }
  }
  // The short shard: a complete file, every position "not scored".
  const auto c = rho::ScoreFile::open(tmp.path + "/one_f32/c.scores")->read_all();
  ASSERT_EQ(c.size(), 7u);
  for (float v : c) EXPECT_TRUE(std::isnan(v));
}

// The shards' own tokenizer (no --cross-tokenizer): header bytes 44..63 stay zero, as in every
// file before the reference tokenizer was recorded there, and a second run writes the same bytes.
TEST(Scoring, SameTokenizerFilesKeepTheirBytes) {
  TempDir tmp;
  write_shard(tmp.path + "/data/a.bin", 300, 1);
  const auto model = save_reference(tmp.path + "/ref", 9);
  const auto first = score_opts(model, {tmp.path + "/data"}, tmp.path + "/one");
  auto second = first;
  second.out_dir = tmp.path + "/two";
  rho::score_shards(first);
  rho::score_shards(second);
  const std::string bytes = bytes_of(tmp.path + "/one/a.scores");
  EXPECT_EQ(bytes, bytes_of(tmp.path + "/two/a.scores"));
  EXPECT_EQ(bytes.substr(44, 20), std::string(20, '\0'));
  EXPECT_EQ(rho::ScoreFile::open(tmp.path + "/one/a.scores")->header().ref_tokenizer_fingerprint, 0u);

  // --data-tokenizer and --cross-tokenizer go together.
  auto cross = first;
  cross.cross_tokenizer = true;
  EXPECT_TRUE(contains(error_of([&] { rho::score_shards(cross); }), "--cross-tokenizer needs --data-tokenizer"));
  auto data_tok = first;
  data_tok.data_tokenizer = tmp.path + "/tok.model";
  EXPECT_TRUE(contains(error_of([&] { rho::score_shards(data_tok); }), "--data-tokenizer applies with --cross-tokenizer only"));
}

// A rank killed mid-shard: its part holds windows past its last progress record (not yet
// durable when it died). The restart cuts them off and scores from the record: the same bytes.
TEST(Scoring, ResumesInsideAShardFromItsLastRecord) {
  TempDir tmp;
  const auto shard = write_shard(tmp.path + "/data/a.bin", 3000, 5);
  const auto model = save_reference(tmp.path + "/ref", 9);
  auto one = score_opts(model, {shard}, tmp.path + "/one");
  rho::score_shards(one);
  const std::string expected = bytes_of(tmp.path + "/one/a.scores");

  auto split = score_opts(model, {shard}, tmp.path + "/split");
  split.world = 2;
  split.rank = 0;
  rho::score_shards(split);  // rank 0's range complete; rank 1 has not run
  const std::string part = tmp.path + "/split/a.scores.r0of2.part", progress = tmp.path + "/split/a.scores.r0of2.progress";
  ASSERT_TRUE(fs::exists(part));
  ASSERT_FALSE(fs::exists(tmp.path + "/split/a.scores"));
  // Wind the record back to batch 5 and leave garbage after it, as a kill between saves would.
  auto record = nlohmann::json::parse(bytes_of(progress));
  const int64_t batches = record["batches"];
  ASSERT_GT(batches, 10);
  record["batches_done"] = 5;
  rho::write_file_atomic(progress, record.dump());
  fs::resize_file(part, fs::file_size(part) - 100);
  std::ofstream(part, std::ios::app) << "garbage that is not a loss";

  split.rank = 1;
  EXPECT_EQ(rho::score_shards(split).shards_scored, 0) << "rank 0 is not done: no file yet";
  split.rank = 0;
  const auto st = rho::score_shards(split);
  EXPECT_EQ(st.shards_scored, 1);
  EXPECT_EQ(st.tokens, (batches - 5) * 4 * kT) << "only the batches after the record were scored again";
  EXPECT_EQ(bytes_of(tmp.path + "/split/a.scores"), expected);
  EXPECT_EQ(files_of(tmp.path + "/split").size(), 1u) << "parts and records removed";
  // Done: a rerun skips it.
  EXPECT_EQ(rho::score_shards(split).shards_skipped, 1);
}

TEST(Scoring, AShortLastShardIsScoredAndTrainingAlignsWithIt) {
  TempDir tmp;
  const auto a = write_shard(tmp.path + "/data/a.bin", 1200, 1);
  const auto b = write_shard(tmp.path + "/data/b.bin", kT, 2);  // kT tokens: one short of a window
  const auto model = save_reference(tmp.path + "/ref", 9);
  auto so = score_opts(model, {tmp.path + "/data"}, tmp.path + "/scores");
  EXPECT_EQ(rho::score_shards(so).shards_scored, 2);
  const auto sb = rho::ScoreFile::open(tmp.path + "/scores/b.scores");
  EXPECT_EQ(sb->size(), uint64_t(kT));

  // Training over both shards: the short one has no window (the same rule as every shard's
  // tail), the scores line up with every window drawn, and an epoch covers shard a exactly.
  rho::PackedDataset data({a, b}, kT);
  EXPECT_EQ(data.num_windows(), int64_t(rho::whole_windows(1200, kT)));
  EXPECT_EQ(data.first_window(1), data.first_window(2));
  rho::TrainOptions o;
  o.train_data = {tmp.path + "/data"};
  o.out_dir = tmp.path + "/run";
  o.seq_len = kT;
  o.micro_batch = 8;
  o.optim.max_steps = 15;  // 120 windows: more than the 99 of an epoch
  o.optim.warmup_steps = 1;
  o.objective = "slm";
  o.selection.ref_scores = so.out_dir;
  const auto r = rho::train(o);
  EXPECT_EQ(r.steps, o.optim.max_steps);
  EXPECT_EQ(r.tokens_seen, r.steps * 8 * kT);
  EXPECT_EQ(r.bad_steps, 0);
}

// f16 halves the disk; how much does it change what SLM keeps? A reference trained on the
// corpus, a model trained less, the selection of 40 batches of 16 x 64 tokens at k = 60% over
// the batch, with the scores read from f32, f16 and bf16 files. The README states the figure.
TEST(Scoring, F16ScoresSelectAlmostTheSameTokens) {
  TempDir tmp;
  const int64_t T = 64, B = 16, batches = 40;
  write_shard(tmp.path + "/data/a.bin", 30000, 1);
  write_shard(tmp.path + "/data/b.bin", 15000, 2);
  auto train = [&](const std::string& out, int64_t steps, uint64_t seed) {
    rho::TrainOptions o;
    o.train_data = {tmp.path + "/data"};
    o.out_dir = out;
    o.seq_len = T;
    o.micro_batch = 16;
    o.optim.max_steps = steps;
    o.optim.warmup_steps = 2;
    o.optim.lr = 3e-3;
    o.seed = seed;
    return rho::train(o).final_dir;
  };
  const std::string ref = train(tmp.path + "/ref", 25, 1), cur = train(tmp.path + "/cur", 6, 2);
  auto so = score_opts(ref, {tmp.path + "/data"}, tmp.path + "/scores_f32");
  so.seq_len = T;
  so.batch = 16;
  rho::score_shards(so);
  // The half-size files hold the f32 losses rounded as `rho score --score-dtype` rounds them
  // (encode_scores; Scoring.RanksLeaveTheBytesOneProcessWrites runs the scorer in f16 itself).
  std::map<std::string, std::string> dirs = {{"f32", so.out_dir}};
  for (auto d : {rho::ScoreDtype::F16, rho::ScoreDtype::BF16}) {
    const std::string dir = tmp.path + "/scores_" + rho::to_string(d);
    fs::create_directories(dir);
    for (const auto& e : fs::directory_iterator(so.out_dir)) {
      const auto f = rho::ScoreFile::open(e.path().string());
      auto h = f->header();
      h.dtype = d;
      rho::write_score_file(dir + "/" + e.path().filename().string(), h, f->read_all().data());
    }
    dirs[rho::to_string(d)] = dir;
  }
  auto data = std::make_shared<const rho::PackedDataset>(rho::list_shards(tmp.path + "/data"), T);
  auto model = rho::load_model(cur);
  model->eval();
  rho::SelectionOptions sel;
  sel.ratio = 0.6;
  std::map<std::string, std::unique_ptr<rho::SlmObjective>> objectives;
  for (const auto& [name, dir] : dirs)
    objectives[name] = std::make_unique<rho::SlmObjective>(sel, rho::offline_reference(*data, dir), 1);
  rho::DataLoader loader(data, B, 3);
  std::map<std::string, int64_t> differ;
  int64_t selected = 0;
  torch::NoGradGuard no_grad;
  for (int64_t i = 0; i < batches; ++i) {
    const auto b = loader.next();
    const auto losses = rho::per_token_loss(model->forward(b.inputs), b.targets);
    const auto base = objectives["f32"]->select({losses}, {&b}, i, 0)[0];
    selected += base.sum().item<int64_t>();
    for (const char* name : {"f16", "bf16"}) {
      const auto m = objectives[name]->select({losses}, {&b}, i, 0)[0];
      // Each mask keeps exactly k: a token in one and not the other is one of a swapped pair.
      differ[name] += (m != base).sum().item<int64_t>() / 2;
    }
  }
  const double f16 = double(differ["f16"]) / double(selected), bf16 = double(differ["bf16"]) / double(selected);
  std::printf("selected tokens: %lld over %lld batches; differing from f32: f16 %lld (%.3f%%), bf16 %lld (%.3f%%)\n",
              (long long)selected, (long long)batches, (long long)differ["f16"], 100 * f16, (long long)differ["bf16"],
              100 * bf16);
  EXPECT_EQ(selected, batches * rho::selected_count(B * T, 0.6));
  EXPECT_LT(f16, 0.002) << "f16 scores change at most 0.2% of the selected tokens";
  EXPECT_GT(differ["bf16"], differ["f16"]) << "bf16 keeps 8 bits of mantissa to f16's 11: it must differ more";
}
