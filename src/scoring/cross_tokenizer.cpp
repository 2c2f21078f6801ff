#include "scoring/cross_tokenizer.h"

#include <algorithm>
#include <cstdio>

#include "common/error.h"

namespace rho {
namespace {

// encode("x") stands for " x": the tokenizer puts a space before the text it encodes.
bool adds_phantom_space(const Tokenizer& t) {
  std::string s;
  for (int32_t id : t.encode("x")) {
    const auto b = t.token_bytes(id);
    if (!b) return false;
    s += *b;
  }
  return s == " x";
}

// A piece name for a one-line message: control bytes escaped.
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c != 0x7F) {
      out += char(c);
    } else {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02X", c);
      out += esc;
    }
  }
  return out;
}

// A UTF-8 continuation byte: the middle of a character.
bool continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// `text` ends inside a character: its last lead byte announces more bytes than follow it.
bool ends_mid_character(const std::string& text) {
  size_t i = text.size(), tail = 0;
  while (i > 0 && tail < 4 && continuation(static_cast<unsigned char>(text[i - 1]))) --i, ++tail;
  if (i == 0) return tail > 0;
  const auto lead = static_cast<unsigned char>(text[i - 1]);
  const size_t need = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
  return tail < need;
}

}  // namespace

// Builds one CrossWindow, shard token by shard token; a piece's text is encoded when it ends.
struct ByteAligner::Builder {
  const ByteAligner& a;
  const Shard& shard;
  uint64_t start;  // s: the window's first token
  CrossWindow w;
  std::string text;  // the current piece's text; its bytes are the last text.size() of w.byte_target
  bool doc_start = false;

  void add(uint64_t pos, int32_t id) {
    // Context before x_{s+1}; after x_{s+T}, bytes that only complete the last target's character.
    const int32_t target = pos > start && pos <= start + uint64_t(w.T) ? int32_t(pos - start - 1) : -1;
    if (id == a.data_.eos_id() || id == a.data_.bos_id()) return add_special(id == a.data_.eos_id(), target);
    const auto bytes = a.data_.token_bytes(id);
    if (!bytes)
      fail_file(shard.path(), "position " + std::to_string(pos) + ": token " + std::to_string(id) + " ('" +
                                  printable(a.data_.id_to_piece(id)) +
                                  "') stands for no text; the shards' tokenizer cannot decode it losslessly, so a "
                                  "reference with another tokenizer cannot score it");
    std::string_view b = *bytes;
    if (doc_start && a.data_phantom_ && !b.empty() && b[0] == ' ') b.remove_prefix(1);  // never text
    doc_start = false;
    text += b;
    w.byte_target.insert(w.byte_target.end(), b.size(), target);
  }

  void add_special(bool eos, int32_t target) {
    end_piece();
    const int32_t ref_id = eos ? a.ref_.eos_id() : a.ref_.bos_id();
    if (ref_id < 0)
      fail_file(a.ref_.path(), std::string("has no ") + (eos ? "EOS" : "BOS") + " token, and the shards' windows hold " +
                                   (eos ? "EOS" : "BOS") + " tokens: this reference cannot score them");
    const auto at = int32_t(w.byte_target.size());
    w.ref_tokens.push_back(ref_id);
    w.spans.push_back({at, at, true, target});
    doc_start = true;
  }

  // Encodes the piece's text with the reference's tokenizer and records what each token covers.
  void end_piece() {
    if (text.empty()) return;
    const std::vector<int32_t> ids = a.ref_.encode(text);
    std::string bytes;
    std::vector<size_t> lengths;
    for (int32_t id : ids) {
      const auto b = a.ref_.token_bytes(id);
      if (!b)
        refuse("byte " + std::to_string(bytes.size() - (a.ref_phantom_ && !bytes.empty())) + " of its text becomes token " +
               std::to_string(id) + " ('" + printable(a.ref_.id_to_piece(id)) +
               "'), which stands for no text (an unknown character, or a special token's name written in the text)");
      bytes += *b;
      lengths.push_back(b->size());
    }
    size_t phantom = 0;
    if (bytes != text) {
      const bool one_space_more = a.ref_phantom_ && bytes.size() == text.size() + 1 && bytes[0] == ' ' &&
                                  bytes.compare(1, std::string::npos, text) == 0;
      if (!one_space_more) refuse("its tokens stand for other bytes (a normalizer that changes text, or unknown characters)");
      phantom = 1;
    }
    auto at = int32_t(w.byte_target.size() - text.size());
    for (size_t k = 0; k < ids.size(); ++k) {
      const size_t dropped = std::min(phantom, lengths[k]);
      phantom -= dropped;
      const auto n = int32_t(lengths[k] - dropped);
      w.ref_tokens.push_back(ids[k]);
      w.spans.push_back({at, at + n, false, -1});
      at += n;
    }
    text.clear();
  }

  [[noreturn]] void refuse(const std::string& why) const {
    fail_file(a.ref_.path(), "cannot encode the text of shard " + shard.path() + " window at position " +
                                 std::to_string(start) + ": " + why);
  }
};

ByteAligner::ByteAligner(const Tokenizer& data_tok, const Tokenizer& ref_tok)
    : data_(data_tok), ref_(ref_tok), data_phantom_(adds_phantom_space(data_tok)), ref_phantom_(adds_phantom_space(ref_tok)) {}

CrossWindow ByteAligner::build_from(const Shard& shard, uint64_t context_start, uint64_t start, int64_t T) const {
  const uint64_t n = start + uint64_t(T) + 1 - context_start;
  std::vector<int64_t> ids(n);
  shard.read(context_start, n, ids.data());  // checked against the vocabulary
  Builder b{*this, shard, start, {}, {}, false};
  b.w.T = T;
  b.w.context_start = context_start;
  const int32_t before = context_start > 0 ? shard.token(context_start - 1) : -1;
  b.doc_start = context_start == 0 || before == data_.eos_id() || before == data_.bos_id();
  for (uint64_t i = 0; i < n; ++i) b.add(context_start + i, int32_t(ids[i]));
  // A byte-fallback target may end inside a character that the next tokens complete: the
  // reference can only encode whole characters, so they are read too (as bytes of no target).
  for (uint64_t pos = context_start + n; ends_mid_character(b.text) && pos < shard.size() && pos < context_start + n + 4; ++pos) {
    const int32_t id = shard.token(pos);
    if (id == data_.eos_id() || id == data_.bos_id() || uint32_t(id) >= uint32_t(data_.vocab_size())) break;
    b.add(pos, id);
  }
  b.end_piece();
  return std::move(b.w);
}

CrossWindow ByteAligner::build(const Shard& shard, uint64_t start, int64_t T) const {
  const uint64_t lowest = start > uint64_t(kMaxContextWidening) ? start - uint64_t(kMaxContextWidening) : 0;
  // r_0 covering a target byte would leave that byte unpredicted: widen the context.
  auto first_covers_target = [](const CrossWindow& w) {
    if (w.spans.empty() || w.spans[0].special) return false;
    for (int32_t b = w.spans[0].begin; b < w.spans[0].end; ++b)
      if (w.byte_target[size_t(b)] >= 0) return true;
    return false;
  };
  // The text must start on a character: a byte-fallback token in the middle of one widens too.
  auto starts_mid_character = [&](uint64_t c) {
    const int32_t id = shard.token(c);
    if (id < 0 || id >= data_.vocab_size()) return false;  // build_from's read names it
    const auto bytes = data_.token_bytes(id);
    return bytes && !bytes->empty() && continuation(static_cast<unsigned char>((*bytes)[0]));
  };
  for (uint64_t c = start;; --c) {
    if (c > lowest && starts_mid_character(c)) continue;
    CrossWindow w = build_from(shard, c, start, T);
    if (c == lowest || !first_covers_target(w)) return w;
  }
}

void ByteAligner::map_losses(const CrossWindow& w, const float* ref_losses, float* out) const {
  std::vector<double> sum(size_t(w.T), 0.0);
  for (size_t j = 1; j < w.spans.size(); ++j) {
    const CrossWindow::RefSpan& r = w.spans[j];
    const double loss = ref_losses[j - 1];
    if (r.special) {
      if (r.target >= 0) sum[size_t(r.target)] += loss;
      continue;
    }
    const int32_t n = r.end - r.begin;  // 0: a phantom space only, not counted
    // Runs of bytes of one shard token take their share at once: k == n gives `loss` exactly.
    for (int32_t b = r.begin; b < r.end;) {
      const int32_t t = w.byte_target[size_t(b)];
      int32_t k = 1;
      while (b + k < r.end && w.byte_target[size_t(b + k)] == t) ++k;
      if (t >= 0) sum[size_t(t)] += loss * k / n;
      b += k;
    }
  }
  for (int64_t t = 0; t < w.T; ++t) out[t] = float(sum[size_t(t)]);
}

void cross_window_losses(LlamaForCausalLM& model, const PackedDataset& data, const ByteAligner& aligner, int64_t first,
                         int64_t count, const MeasureOptions& opts,
                         const std::function<void(int64_t, const float*)>& sink) {
  const int64_t T = data.seq_len(), positions = model->config.max_position_embeddings;
  std::vector<float> out(static_cast<size_t>(T));
  for (int64_t w0 = first; w0 < first + count; w0 += opts.batch) {
    const int64_t B = std::min(opts.batch, first + count - w0);
    std::vector<CrossWindow> windows;
    int64_t longest = 0;  // m of the batch's longest reference sequence
    for (int64_t b = 0; b < B; ++b) {
      const WindowRef ref = data.window_in_order(w0 + b);
      const Shard& shard = *data.shards().at(ref.shard);
      windows.push_back(aligner.build(shard, ref.start, T));
      const auto m = int64_t(windows.back().ref_tokens.size());
      if (m > positions + 1)
        fail_file(shard.path(), "window at position " + std::to_string(ref.start) + ": its text is " + std::to_string(m) +
                                    " reference tokens, more than the reference's max_position_embeddings + 1 = " +
                                    std::to_string(positions + 1) + "; score with a smaller --seq-len");
      longest = std::max(longest, m);
    }
    const int64_t L = longest - 1;  // predictions of the longest sequence
    torch::Tensor losses;           // (B, L)
    if (L > 0) {
      auto inputs = torch::zeros({B, L}, torch::kInt64), targets = torch::zeros({B, L}, torch::kInt64);  // (B, L)
      int64_t* in = inputs.data_ptr<int64_t>();
      int64_t* tg = targets.data_ptr<int64_t>();
      for (int64_t b = 0; b < B; ++b) {
        const auto& r = windows[size_t(b)].ref_tokens;
        for (size_t j = 0; j + 1 < r.size(); ++j) in[b * L + int64_t(j)] = r[j], tg[b * L + int64_t(j)] = r[j + 1];
      }
      losses = batch_losses(model, inputs, targets, opts);
    }
    for (int64_t b = 0; b < B; ++b) {
      aligner.map_losses(windows[size_t(b)], L > 0 ? losses.data_ptr<float>() + b * L : nullptr, out.data());
      sink(w0 + b, out.data());
    }
  }
}

}  // namespace rho
