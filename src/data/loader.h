// Packing shards into training sequences, deterministically, with every token's origin known.
//
// Legend: B = sequences per micro-batch, T = sequence length.
// Each shard is cut into windows of T+1 tokens at stride T: window w of a shard covers tokens
// [w*T, w*T + T]; its inputs are the first T, its targets the last T. So every shard position
// p >= 1 inside a whole window is the target of exactly one window (position 0 never is): a
// per-position score file (SLM's reference losses) aligns with training one-to-one.
// Windows do not cross shard boundaries; a shard's tail shorter than T+1 is not used. A shard
// shorter than T+1 tokens (the usual small last shard) is all tail: it has no windows, `rho
// score` writes it a score file of NaN ("no window targets this position") and training never
// draws from it. Its tokens are dropped like any shard's tail, not padded: padding would need
// masked targets through the model, the selection and the loss.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "data/shard.h"
#include "tokenizer/tokenizer.h"

namespace rho {

// How any token stream becomes model inputs, for training and evaluation alike: windows of T+1
// tokens at stride T, [k*T, k*T + T]. Every position p >= 1 is the target of exactly one window,
// position 0 of none. The rest after the last whole window is dropped (training, scoring), or
// with `keep_tail` kept as one shorter window when it holds a prediction (evaluating a text).
struct TokenSpan {
  uint64_t start = 0, end = 0;  // tokens [start, end)
};
std::vector<TokenSpan> cut_windows(uint64_t n_tokens, int64_t T, bool keep_tail);
// How many whole windows cut_windows(n_tokens, T, false) gives: window k is [k*T, k*T + T].
// Large corpora use this arithmetic instead of the list (a 14B-token corpus has millions).
uint64_t whole_windows(uint64_t n_tokens, int64_t T);

struct WindowRef {
  uint32_t shard = 0;  // index into PackedDataset::shards()
  uint64_t start = 0;  // first token of the window; targets are shard positions start+1 .. start+T
};

class PackedDataset {
 public:
  // UserError when a shard fails to open, shards disagree on tokenizer, or
  // expected_tokenizer_fingerprint != 0 and differs from the shards' (message names the shard).
  PackedDataset(const std::vector<std::string>& shard_paths, int64_t seq_len,
                uint64_t expected_tokenizer_fingerprint = 0);
  int64_t seq_len() const { return seq_len_; }
  int64_t num_windows() const { return first_window_.back(); }
  // Shard s's windows are [first_window(s), first_window(s + 1)) in shard order.
  int64_t first_window(size_t shard) const { return first_window_.at(shard); }
  uint64_t tokenizer_fingerprint() const;
  uint32_t vocab_size() const;
  TokenizerId tokenizer() const;  // what the shards record (the source names the first shard)
  const std::vector<std::shared_ptr<Shard>>& shards() const { return shards_; }

  // The i-th window of the endless training stream: epoch e = i / num_windows() visits every
  // window once in an order that is a function of (seed, e) alone (Fisher-Yates driven by
  // splitmix64, identical on every platform).
  WindowRef window_at(int64_t i, uint64_t seed) const;
  // Without shuffling: windows in shard order (validation sets, scoring); computed, not stored.
  WindowRef window_in_order(int64_t i) const;

  // Fills one row: inputs[t] = token(start+t), targets[t] = token(start+t+1), t < T. Token ids
  // are checked against the vocabulary here (Shard::read).
  void read_window(const WindowRef& w, int64_t* inputs, int64_t* targets) const;

 private:
  // The epoch's order as window indices, built on first use (4 bytes a window: 27 MB for
  // OpenWebMath's 6.8M windows of 2,048).
  const std::vector<uint32_t>& permutation(int64_t epoch, uint64_t seed) const;
  std::vector<std::shared_ptr<Shard>> shards_;
  std::vector<int64_t> first_window_;  // prefix sums of each shard's window count, shards + 1 entries
  int64_t seq_len_;
  mutable int64_t cached_epoch_ = -1;
  mutable uint64_t cached_seed_ = 0;
  mutable std::vector<uint32_t> cached_perm_;
};

struct Batch {
  torch::Tensor inputs;   // (B, T) int64
  torch::Tensor targets;  // (B, T) int64
  std::vector<WindowRef> windows;  // row b's targets are positions windows[b].start+1 .. +T
  Batch to(const torch::Device& device) const { return {inputs.to(device), targets.to(device), windows}; }
};

// Micro-batches for one data-parallel rank. Each next() consumes B*world windows of the stream:
// rank r takes stream indices [cursor + r*B, cursor + (r+1)*B). One process with accumulation A
// and A processes without accumulation therefore see the same global batch.
class DataLoader {
 public:
  DataLoader(std::shared_ptr<const PackedDataset> data, int64_t micro_batch, uint64_t seed,
             int rank = 0, int world = 1, bool shuffle = true);
  Batch next();
  int64_t cursor() const { return cursor_; }  // stream index of the next micro-batch (saved in checkpoints)
  void set_cursor(int64_t c) { cursor_ = c; }

 private:
  std::shared_ptr<const PackedDataset> data_;
  int64_t B_;
  uint64_t seed_;
  int rank_, world_;
  bool shuffle_;
  int64_t cursor_ = 0;
};

}  // namespace rho
