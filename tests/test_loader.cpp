// Packing and batching: window alignment, epoch coverage, determinism, rank split, resume.
#include <gtest/gtest.h>

#include "test_util.h"
#include "tiny.h"
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "common/error.h"
#include "data/loader.h"

namespace {

using rho_test::TempDir;
using rho_test::contains;
using rho_test::error_of;

constexpr uint64_t kFingerprint = 0x5eed;

// A shard whose token at position p is distinct from its neighbours, so misalignment shows.
std::string make_shard(const std::string& path, size_t n, uint32_t salt, uint64_t fingerprint = kFingerprint) {
  std::vector<int32_t> tokens(n);
  for (size_t i = 0; i < n; ++i) tokens[i] = int32_t((i * 31 + salt * 1000) % 50000);
  return rho_test::write_shard(path, tokens, 50000, fingerprint);
}

// Two shards, 100 and 57 tokens, at T = 8: windows start at 0, 8, .. 88 in the first (12; the
// 3-token tail is dropped) and 0 .. 48 in the second (7; 48 + 9 = 57 fits exactly).
struct Fixture {
  TempDir dir;
  std::vector<std::string> paths = {make_shard(dir.path + "/a.bin", 100, 1), make_shard(dir.path + "/b.bin", 57, 2)};
  std::shared_ptr<rho::PackedDataset> data = std::make_shared<rho::PackedDataset>(paths, 8, kFingerprint);
};

std::vector<std::pair<uint32_t, uint64_t>> epoch_order(const rho::PackedDataset& d, int64_t epoch, uint64_t seed) {
  std::vector<std::pair<uint32_t, uint64_t>> order;
  for (int64_t i = epoch * d.num_windows(); i < (epoch + 1) * d.num_windows(); ++i) {
    const auto w = d.window_at(i, seed);
    order.emplace_back(w.shard, w.start);
  }
  return order;
}

}  // namespace

TEST(PackedDataset, WindowsTileEachShardAtStrideT) {
  Fixture f;
  ASSERT_EQ(f.data->num_windows(), 19);
  EXPECT_EQ(f.data->seq_len(), 8);
  EXPECT_EQ(f.data->tokenizer_fingerprint(), kFingerprint);
  EXPECT_EQ(f.data->vocab_size(), 50000u);
  for (int64_t i = 0; i < 12; ++i) {
    EXPECT_EQ(f.data->window_in_order(i).shard, 0u);
    EXPECT_EQ(f.data->window_in_order(i).start, uint64_t(8 * i));
  }
  EXPECT_EQ(f.data->window_in_order(12).shard, 1u);
  EXPECT_EQ(f.data->window_in_order(12).start, 0u);
  EXPECT_EQ(f.data->window_in_order(18).start, 48u);
}

TEST(PackedDataset, TargetsAreTheNextShardTokens) {
  Fixture f;
  rho::DataLoader loader(f.data, 4, /*seed=*/7);
  for (int step = 0; step < 6; ++step) {
    const rho::Batch batch = loader.next();
    ASSERT_EQ(batch.inputs.sizes(), (std::vector<int64_t>{4, 8}));
    ASSERT_EQ(batch.inputs.scalar_type(), torch::kInt64);
    ASSERT_EQ(batch.targets.sizes(), (std::vector<int64_t>{4, 8}));
    ASSERT_EQ(batch.windows.size(), 4u);
    auto in = batch.inputs.accessor<int64_t, 2>();
    auto tg = batch.targets.accessor<int64_t, 2>();
    for (int64_t b = 0; b < 4; ++b) {
      const auto& w = batch.windows[size_t(b)];
      const auto& shard = *f.data->shards()[w.shard];
      for (int64_t t = 0; t < 8; ++t) {
        ASSERT_EQ(in[b][t], shard.token(w.start + uint64_t(t)));
        ASSERT_EQ(tg[b][t], shard.token(w.start + 1 + uint64_t(t)));
      }
    }
  }
}

TEST(PackedDataset, EveryWindowOncePerEpoch) {
  Fixture f;
  std::set<std::pair<uint32_t, uint64_t>> all;
  for (int64_t i = 0; i < f.data->num_windows(); ++i) {
    const auto w = f.data->window_in_order(i);
    all.emplace(w.shard, w.start);
  }
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    const auto order = epoch_order(*f.data, epoch, 11);
    const std::set<std::pair<uint32_t, uint64_t>> seen(order.begin(), order.end());
    EXPECT_EQ(order.size(), all.size()) << "epoch " << epoch;
    EXPECT_EQ(seen, all) << "epoch " << epoch;
  }
  EXPECT_NE(epoch_order(*f.data, 0, 11), epoch_order(*f.data, 1, 11)) << "each epoch reshuffles";
}

TEST(PackedDataset, OrderIsAFunctionOfSeedAndEpoch) {
  Fixture f;
  rho::PackedDataset other(f.paths, 8);
  // Interleaving epochs and seeds must not disturb the per-epoch cache.
  const auto a0 = epoch_order(*f.data, 0, 1);
  const auto b1 = epoch_order(other, 1, 1);
  EXPECT_EQ(epoch_order(other, 0, 1), a0);
  EXPECT_EQ(epoch_order(*f.data, 1, 1), b1);
  EXPECT_NE(epoch_order(*f.data, 0, 2), a0);
}

TEST(PackedDataset, ShuffleIsPinned) {
  // The order is part of the checkpoint format (a resumed run must see the same stream), so a
  // change to splitmix64 seeding or Fisher-Yates shows up here. The values were cross-checked
  // against an independent Python transcription of the same algorithm.
  Fixture f;
  std::vector<int64_t> first;
  for (int64_t i = 0; i < 6; ++i) {
    const auto w = f.data->window_at(i, 1234);
    first.push_back(w.shard * 1000 + int64_t(w.start));
  }
  EXPECT_EQ(first, (std::vector<int64_t>{8, 16, 32, 24, 80, 1024}));
}

TEST(DataLoader, RanksSplitTheGlobalBatch) {
  Fixture f;
  rho::DataLoader single(f.data, 6, 3);
  rho::DataLoader r0(f.data, 3, 3, 0, 2), r1(f.data, 3, 3, 1, 2);
  for (int step = 0; step < 5; ++step) {  // 30 windows: crosses into the second epoch
    const auto whole = single.next();
    const auto a = r0.next(), b = r1.next();
    EXPECT_TRUE(torch::equal(torch::cat({a.inputs, b.inputs}), whole.inputs)) << "step " << step;
    EXPECT_TRUE(torch::equal(torch::cat({a.targets, b.targets}), whole.targets)) << "step " << step;
  }
  EXPECT_EQ(r0.cursor(), single.cursor());
  EXPECT_EQ(r1.cursor(), 30);
}

TEST(DataLoader, SetCursorResumesTheStream) {
  Fixture f;
  rho::DataLoader first(f.data, 4, 9);
  first.next();
  first.next();
  const int64_t saved = first.cursor();
  const auto third = first.next();
  const auto fourth = first.next();

  rho::DataLoader resumed(f.data, 4, 9);
  resumed.set_cursor(saved);
  EXPECT_TRUE(torch::equal(resumed.next().inputs, third.inputs));
  EXPECT_TRUE(torch::equal(resumed.next().targets, fourth.targets));
}

TEST(DataLoader, UnshuffledReadsInShardOrder) {
  Fixture f;
  rho::DataLoader loader(f.data, 5, 0, 0, 1, /*shuffle=*/false);
  const auto batch = loader.next();
  for (size_t b = 0; b < 5; ++b) EXPECT_EQ(batch.windows[b].start, 8 * b);
}

TEST(PackedDataset, TokenizerMismatchNamesTheShard) {
  Fixture f;
  EXPECT_TRUE(contains(error_of([&] { rho::PackedDataset(f.paths, 8, 0x1111); }), f.paths[0] + ": tokenized with tokenizer"));

  const auto foreign = make_shard(f.dir.path + "/c.bin", 50, 3, /*fingerprint=*/0x2222);
  const auto msg = error_of([&] { rho::PackedDataset({f.paths[0], foreign}, 8); });
  EXPECT_TRUE(contains(msg, foreign + ": tokenized with tokenizer")) << msg;
  EXPECT_TRUE(contains(msg, f.paths[0])) << msg;
}

TEST(PackedDataset, TooFewTokensNamesTheShards) {
  Fixture f;
  const auto msg = error_of([&] { rho::PackedDataset(f.paths, 100); });
  EXPECT_TRUE(contains(msg, f.paths[0] + ", " + f.paths[1] + ": too few tokens for seq_len 100")) << msg;
}

TEST(PackedDataset, BadShardIsReportedByPath) {
  Fixture f;
  const auto missing = f.dir.path + "/missing.bin";
  EXPECT_TRUE(contains(error_of([&] { rho::PackedDataset({f.paths[0], missing}, 8); }), missing + ": "));
}

// Windows are computed, not listed: the arithmetic gives exactly what cut_windows lists, shard by
// shard, including shards shorter than T+1 (no window) and empty ones.
TEST(PackedDataset, ComputedWindowsAreCutWindowsOfEveryShard) {
  TempDir dir;
  const std::vector<size_t> sizes = {100, 5, 0, 9, 57, 8, 1000, 3};
  std::vector<std::string> paths;
  for (size_t i = 0; i < sizes.size(); ++i)
    paths.push_back(make_shard(dir.path + "/s" + std::to_string(i) + ".bin", sizes[i], uint32_t(i)));
  for (int64_t T : {1, 7, 8, 64}) {
    rho::PackedDataset data(paths, T);
    std::vector<std::pair<uint32_t, uint64_t>> listed;
    for (size_t s = 0; s < sizes.size(); ++s) {
      EXPECT_EQ(data.first_window(s), int64_t(listed.size()));
      EXPECT_EQ(rho::whole_windows(sizes[s], T), rho::cut_windows(sizes[s], T, false).size());
      for (const auto& w : rho::cut_windows(sizes[s], T, /*keep_tail=*/false)) listed.emplace_back(uint32_t(s), w.start);
    }
    ASSERT_EQ(data.num_windows(), int64_t(listed.size())) << "T " << T;
    for (int64_t i = 0; i < data.num_windows(); ++i) {
      const auto w = data.window_in_order(i);
      ASSERT_EQ(std::make_pair(w.shard, w.start), listed[size_t(i)]) << "T " << T << " window " << i;
    }
    // A shuffled epoch is a permutation of the same windows.
    auto order = epoch_order(data, 0, 5);
    std::sort(order.begin(), order.end());
    auto sorted = listed;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(order, sorted);
  }
}

TEST(PackedDataset, ABadTokenIsRefusedWhenItsWindowIsRead) {
  TempDir dir;
  const auto path = make_shard(dir.path + "/a.bin", 100, 1);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    const uint16_t big = 60000;  // vocab is 50,000
    f.seekp(std::streamoff(rho::kShardHeaderBytes + 2 * 50));
    f.write(reinterpret_cast<const char*>(&big), 2);
  }
  rho::PackedDataset data({path}, 8);  // opens: the header only
  std::vector<int64_t> in(8), tg(8);
  data.read_window(data.window_in_order(0), in.data(), tg.data());
  EXPECT_EQ(error_of([&] { data.read_window(data.window_in_order(6), in.data(), tg.data()); }),
            path + ": token 60000 at position 50 >= vocab_size 50000 (damaged shard?)");
}
