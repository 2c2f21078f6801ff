// A reference model with another tokenizer (`rho score --cross-tokenizer`): the text of each
// training window is encoded with the reference's tokenizer, the reference scores that, and its
// losses are carried back to the shard's tokens through the bytes both stand for.
//
// Legend: a window of the shards holds tokens x_s .. x_{s+T}; x_s (and anything before it) is
// context, x_{s+1} .. x_{s+T} are its T targets. The reference's sequence is r_0 .. r_{m-1}; it
// reads r_0 .. r_{m-2} and predicts r_1 .. r_{m-1}, whose losses l_1 .. l_{m-1} it gives.
//
// The byte rule:
//   - The window's tokens are cut into pieces at EOS and BOS tokens. A piece's text is its
//     tokens' bytes (Tokenizer::token_bytes) concatenated. A piece that starts a document (after
//     EOS / BOS, or at shard position 0) loses the one leading space a dummy-prefix tokenizer put
//     there: it was never text.
//   - Each piece's text is encoded by the reference's tokenizer; the shard's EOS becomes the
//     reference's EOS, BOS its BOS. The reference's tokens must stand for exactly the text again
//     (after one leading phantom space, if the reference adds a dummy prefix).
//   - A reference token's loss is spread evenly over the bytes it covers; a shard target's loss
//     is the sum over its bytes (so a shard token covered by one reference token exactly gets
//     that token's loss exactly). An EOS / BOS covers no bytes: its loss goes whole to the
//     shard's matching token. Context bytes count for nothing, so a reference token straddling
//     the context and x_{s+1} gives x_{s+1} only its bytes' share. A reference token covering
//     only a phantom space (no real byte) is not counted.
//   - r_0 is not predicted, so it must cover no target byte: while it does, the context is
//     widened one shard token back (at most kMaxContextWidening tokens, never before position 0)
//     and the text encoded again. At shard position 0 the bytes r_0 still covers get nothing.
//   - The reference encodes whole characters only: a context that starts inside a UTF-8 character
//     (a byte-fallback token) is widened back to its start, and a last target that ends inside
//     one is followed by the tokens that complete it (up to 4; their bytes belong to no target).
// Refused (UserError naming the file): a shard token other than EOS / BOS that stands for no
// text; a reference tokenizer that cannot reproduce the text (a normalizer that changes it, an
// unknown character) or lacks the EOS / BOS the window needs.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/loader.h"
#include "measure/token_losses.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"

namespace rho {

constexpr int64_t kMaxContextWidening = 64;  // shard tokens the context may grow back by

// One window as the reference reads it.
struct CrossWindow {
  std::vector<int32_t> ref_tokens;  // r_0 .. r_{m-1}
  // Reference token j covers bytes [begin, end) of the window's text (all pieces, in order).
  // An EOS / BOS covers none and stands for one shard token: its target index, -1 for context.
  struct RefSpan {
    int32_t begin = 0, end = 0;
    bool special = false;
    int32_t target = -1;  // special tokens only
  };
  std::vector<RefSpan> spans;        // m, one per reference token
  std::vector<int32_t> byte_target;  // per byte of the text: the target index 0 .. T-1 whose byte it is, -1 for context
  int64_t T = 0;
  uint64_t context_start = 0;  // the first shard position read (s, or earlier when widened)
};

class ByteAligner {
 public:
  // Both tokenizers are kept by reference: they must outlive the aligner.
  ByteAligner(const Tokenizer& data_tok, const Tokenizer& ref_tok);
  // The reference's sequence for the window of `shard` at `start` with T targets.
  CrossWindow build(const Shard& shard, uint64_t start, int64_t T) const;
  // ref_losses (m-1): the losses of r_1 .. r_{m-1}; out (T): the targets' losses.
  void map_losses(const CrossWindow& w, const float* ref_losses, float* out) const;

 private:
  struct Builder;
  CrossWindow build_from(const Shard& shard, uint64_t context_start, uint64_t start, int64_t T) const;

  const Tokenizer& data_;
  const Tokenizer& ref_;
  bool data_phantom_, ref_phantom_;  // encode("x") stands for " x": a dummy-prefix space
};

// window_losses (measure/token_losses.h) through a reference with another tokenizer: windows
// [first, first + count) of `data` in order, B at a time, `sink(w, losses)` receiving window w's
// T losses. A batch's reference sequences are right-padded to its longest (attention is causal,
// so padding after a sequence never reaches it). UserError naming the shard when a window's
// reference sequence is longer than the model's positions allow.
void cross_window_losses(LlamaForCausalLM& model, const PackedDataset& data, const ByteAligner& aligner, int64_t first,
                         int64_t count, const MeasureOptions& opts,
                         const std::function<void(int64_t, const float*)>& sink);

}  // namespace rho
