#include "data/loader.h"

#include <algorithm>
#include <numeric>

#include "common/error.h"
#include "common/fileio.h"

namespace rho {
namespace {

// splitmix64 (Steele, Lea, Flood 2014): a few integer ops, so the shuffle is bit-identical
// everywhere, unlike std::shuffle whose algorithm the standard leaves to the library.
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

// "a.bin, b.bin, c.bin and 7 more": error messages name the shards without flooding the line.
std::string shard_list(const std::vector<std::string>& paths) {
  std::string out;
  const size_t shown = std::min<size_t>(paths.size(), 3);
  for (size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + paths[i];
  if (paths.size() > shown) out += " and " + std::to_string(paths.size() - shown) + " more";
  return out;
}

}  // namespace

uint64_t whole_windows(uint64_t n_tokens, int64_t T) {
  if (T < 1) fail("seq_len must be at least 1, got " + std::to_string(T));
  return n_tokens >= uint64_t(T) + 1 ? (n_tokens - 1) / uint64_t(T) : 0;
}

std::vector<TokenSpan> cut_windows(uint64_t n_tokens, int64_t T, bool keep_tail) {
  const uint64_t t = uint64_t(T), whole = whole_windows(n_tokens, T);
  std::vector<TokenSpan> spans;
  for (uint64_t k = 0; k < whole; ++k) spans.push_back({k * t, k * t + t + 1});
  const uint64_t start = whole * t;
  if (keep_tail && start + 1 < n_tokens) spans.push_back({start, n_tokens});
  return spans;
}

PackedDataset::PackedDataset(const std::vector<std::string>& shard_paths, int64_t seq_len,
                             uint64_t expected_tokenizer_fingerprint)
    : seq_len_(seq_len) {
  if (seq_len < 1) fail("seq_len must be at least 1, got " + std::to_string(seq_len));
  if (shard_paths.empty()) fail("no token shards given");
  uint64_t total_tokens = 0;
  first_window_.push_back(0);
  for (const auto& path : shard_paths) {
    auto shard = Shard::open(path);
    const ShardHeader& h = shard->header();
    if (expected_tokenizer_fingerprint != 0 && h.tokenizer_fingerprint != expected_tokenizer_fingerprint)
      fail_file(path, "tokenized with tokenizer " + hex64(h.tokenizer_fingerprint) + ", expected " +
                          hex64(expected_tokenizer_fingerprint) + " (re-tokenize with the same tokenizer)");
    if (!shards_.empty()) {
      const ShardHeader& first = shards_.front()->header();
      if (h.tokenizer_fingerprint != first.tokenizer_fingerprint || h.vocab_size != first.vocab_size)
        fail_file(path, "tokenized with tokenizer " + hex64(h.tokenizer_fingerprint) + " (vocab " +
                            std::to_string(h.vocab_size) + ") but " + shards_.front()->path() +
                            " with " + hex64(first.tokenizer_fingerprint) + " (vocab " +
                            std::to_string(first.vocab_size) + ")");
    }
    first_window_.push_back(first_window_.back() + int64_t(whole_windows(shard->size(), seq_len)));
    total_tokens += shard->size();
    shards_.push_back(std::move(shard));
  }
  if (num_windows() == 0)
    fail(shard_list(shard_paths) + ": too few tokens for seq_len " + std::to_string(seq_len) + " (" +
         std::to_string(total_tokens) + " tokens in all; a shard needs at least " +
         std::to_string(seq_len + 1) + ")");
}

uint64_t PackedDataset::tokenizer_fingerprint() const { return shards_.front()->header().tokenizer_fingerprint; }
uint32_t PackedDataset::vocab_size() const { return shards_.front()->header().vocab_size; }
TokenizerId PackedDataset::tokenizer() const {
  return {tokenizer_fingerprint(), int64_t(vocab_size()), shards_.front()->path(), nullptr};
}

// Not thread-safe (the cache is mutable): give each thread its own dataset or loader.
const std::vector<uint32_t>& PackedDataset::permutation(int64_t epoch, uint64_t seed) const {
  if (epoch == cached_epoch_ && seed == cached_seed_) return cached_perm_;
  if (num_windows() > int64_t(UINT32_MAX))
    fail("more than 2^32 windows (" + std::to_string(num_windows()) + "): use a longer seq_len");
  cached_perm_.resize(size_t(num_windows()));
  std::iota(cached_perm_.begin(), cached_perm_.end(), uint32_t(0));
  // One stream per (seed, epoch); the odd multiplier spreads consecutive epochs apart.
  SplitMix64 rng{seed ^ (0xd1b54a32d192ed03ULL * (uint64_t(epoch) + 1))};
  for (size_t i = cached_perm_.size(); i > 1; --i) {
    // Modulo bias is below 2^-32 for any realistic window count; determinism is what matters.
    const size_t j = size_t(rng.next() % i);
    std::swap(cached_perm_[i - 1], cached_perm_[j]);
  }
  cached_epoch_ = epoch;
  cached_seed_ = seed;
  return cached_perm_;
}

WindowRef PackedDataset::window_at(int64_t i, uint64_t seed) const {
  if (i < 0) fail("negative stream index " + std::to_string(i));
  const int64_t n = num_windows();
  return window_in_order(int64_t(permutation(i / n, seed)[size_t(i % n)]));
}

WindowRef PackedDataset::window_in_order(int64_t i) const {
  if (i < 0) fail("negative window index " + std::to_string(i));
  i %= num_windows();
  // The shard whose range holds i: the last s with first_window_[s] <= i (empty shards skipped).
  const auto s = size_t(std::upper_bound(first_window_.begin(), first_window_.end(), i) - first_window_.begin() - 1);
  return {uint32_t(s), uint64_t(i - first_window_[s]) * uint64_t(seq_len_)};
}

void PackedDataset::read_window(const WindowRef& w, int64_t* inputs, int64_t* targets) const {
  const Shard& shard = *shards_.at(w.shard);
  const auto T = uint64_t(seq_len_);
  if (w.start + T + 1 > shard.size())
    fail_file(shard.path(), "window at " + std::to_string(w.start) + " runs past the shard's end");
  shard.read(w.start, T, inputs);
  std::copy(inputs + 1, inputs + T, targets);
  shard.read(w.start + T, 1, targets + T - 1);
  shard.release(w.start, T + 1);  // resident memory stays flat however much of the corpus is read
}

DataLoader::DataLoader(std::shared_ptr<const PackedDataset> data, int64_t micro_batch, uint64_t seed,
                       int rank, int world, bool shuffle)
    : data_(std::move(data)), B_(micro_batch), seed_(seed), rank_(rank), world_(world), shuffle_(shuffle) {
  if (!data_) fail("DataLoader needs a dataset");
  if (B_ < 1) fail("micro-batch size must be at least 1, got " + std::to_string(B_));
  if (world_ < 1 || rank_ < 0 || rank_ >= world_)
    fail("rank " + std::to_string(rank_) + " is outside world size " + std::to_string(world_));
}

Batch DataLoader::next() {
  const int64_t T = data_->seq_len();
  Batch batch;
  batch.inputs = torch::empty({B_, T}, torch::kInt64);
  batch.targets = torch::empty({B_, T}, torch::kInt64);
  batch.windows.reserve(size_t(B_));
  int64_t* inputs = batch.inputs.data_ptr<int64_t>();
  int64_t* targets = batch.targets.data_ptr<int64_t>();
  const int64_t first = cursor_ + int64_t(rank_) * B_;
  for (int64_t b = 0; b < B_; ++b) {
    const WindowRef w = shuffle_ ? data_->window_at(first + b, seed_) : data_->window_in_order(first + b);
    data_->read_window(w, inputs + b * T, targets + b * T);
    batch.windows.push_back(w);
  }
  cursor_ += B_ * world_;
  return batch;
}

}  // namespace rho
