#include "train/options.h"

#include "common/error.h"
#include "train/master_weights.h"

namespace rho {

namespace {

template <class E>
const std::string& name_of(const E& value, const std::vector<std::pair<std::string, E>>& names) {
  for (const auto& [n, v] : names)
    if (v == value) return n;
  fail("internal: a setting holds a value with no name");
}

// The run's record: every setting with a key, as trainer_state.json stores it.
struct ToJson {
  nlohmann::json j = nlohmann::json::object();
  template <class I>
  void integer(const char*, const char* key, I& x, I, I, OnResume, const char*) { if (key) j[key] = x; }
  void real(const char*, const char* key, double& x, Bounds, OnResume, const char*) { if (key) j[key] = x; }
  void text(const char*, const char* key, std::string& x, bool, OnResume, const char*) { if (key) j[key] = x; }
  void texts(const char*, const char* key, std::vector<std::string>& x, bool, OnResume, const char*) { if (key) j[key] = x; }
  template <class E>
  void choice(const char*, const char* key, E& x, const std::vector<std::pair<std::string, E>>& names, OnResume, const char*) {
    if (key) j[key] = name_of(x, names);
  }
  void flag(const char*, const char* key, bool& x, bool, OnResume, const char*) { if (key) j[key] = x; }
};

// The same ranges the CLI enforces, for callers of the library.
struct Validate {
  static std::string name(const char* flag, const char* key) { return flag ? flag : key; }
  template <class I>
  void integer(const char* flag, const char* key, I& x, I lo, I hi, OnResume, const char*) {
    if (x < lo || x > hi)
      fail(name(flag, key) + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(x));
  }
  void real(const char* flag, const char* key, double& x, Bounds b, OnResume, const char*) {
    if (!b.contains(x)) fail(name(flag, key) + " must be in " + b.text() + ", got " + std::to_string(x));
  }
  void text(const char* flag, const char* key, std::string& x, bool required, OnResume, const char*) {
    if (required && x.empty()) fail(name(flag, key) + " is required");
  }
  void texts(const char* flag, const char* key, std::vector<std::string>& x, bool required, OnResume, const char*) {
    if (required && x.empty()) fail(name(flag, key) + " is required");
  }
  template <class E>
  void choice(const char* flag, const char* key, E& x, const std::vector<std::pair<std::string, E>>& names, OnResume,
              const char*) {
    for (const auto& n : names)
      if (n.second == x) return;
    std::string all;
    for (const auto& n : names) all += (all.empty() ? "" : ", ") + n.first;
    fail(name(flag, key) + " must be one of " + all);
  }
  void flag(const char*, const char*, bool&, bool, OnResume, const char*) {}
};

[[noreturn]] void fail_unrecorded(const std::string& where, const std::string& setting) {
  fail_file(where, "does not record " + setting + " (written by an older rho); resume needs every method setting");
}

// Compares the settings a resume must keep with a checkpoint's record.
struct CheckResume {
  const nlohmann::json& saved;
  const nlohmann::json& now;
  const std::string& where;
  void same(const char* flag, const char* key, OnResume r) {
    if (!key || r != OnResume::Same) return;
    const std::string setting = flag ? flag : key;
    if (!saved.contains(key)) fail_unrecorded(where, setting);
    if (saved[key] != now[key])
      fail_file(where, "was written with " + setting + " " + saved[key].dump() + ", this run has " + now[key].dump() +
                           "; a resume must keep the method (start a new run with --init-from to change it)");
  }
  template <class I>
  void integer(const char* f, const char* k, I&, I, I, OnResume r, const char*) { same(f, k, r); }
  void real(const char* f, const char* k, double&, Bounds, OnResume r, const char*) { same(f, k, r); }
  void text(const char* f, const char* k, std::string&, bool, OnResume r, const char*) { same(f, k, r); }
  void texts(const char* f, const char* k, std::vector<std::string>&, bool, OnResume r, const char*) { same(f, k, r); }
  template <class E>
  void choice(const char* f, const char* k, E&, const std::vector<std::pair<std::string, E>>&, OnResume r, const char*) {
    same(f, k, r);
  }
  void flag(const char* f, const char* k, bool&, bool, OnResume r, const char*) { same(f, k, r); }
};

}  // namespace

nlohmann::json TrainOptions::to_json() const {
  TrainOptions copy = *this;  // describe() hands out references; the record only reads them
  ToJson v;
  copy.describe(v);
  return v.j;
}

void TrainOptions::validate() const {
  TrainOptions copy = *this;
  Validate v;
  copy.describe(v);
  // Rules between settings: every one is checked here, before any data or model is loaded.
  if (optim.min_lr > optim.lr) fail("--min-lr must be in [0, --lr]");
  if (rank < 0 || rank >= world) fail("rank must be in [0, world)");
  if (shard != ShardLevel::None && world < 2)
    fail("--shard " + std::string(shard == ShardLevel::Optimizer ? "optimizer" : "gradients") +
         " splits the optimizer state across data-parallel processes and needs several; this is one process "
         "(launch with `rho launch -n N -- train ...` or torchrun)");
  if (master_fp32) require_bf16_for_master_weights(compute().bf16());
  if (master_fp32 && shard != ShardLevel::None)
    fail("--master-weights fp32 with --shard is not built: ZeRO's buckets hold the fp32 parameters themselves");
  check_selection();
  if (!head.fused && head.chunk_tokens != 0) fail("--head-chunk sets the fused head's chunk; it does nothing with --plain-head");
  (void)compute();  // --device / --precision this process can use
}

// SLM's settings: a reference exactly when the score needs one, and none of them under CLM.
void TrainOptions::check_selection() const {
  const SelectionOptions defaults;
  const auto& s = selection;
  if (objective != "slm") {
    const std::pair<bool, const char*> slm_only[] = {
        {s.ratio != defaults.ratio, "--ratio"},           {s.scope != defaults.scope, "--selection-scope"},
        {s.score != defaults.score, "--score"},           {!s.ref_scores.empty(), "--ref-scores"},
        {!s.ref_model.empty(), "--ref-model"},            {!s.ref_tokenizer.empty(), "--ref-tokenizer"},
        {s.start_fraction != defaults.start_fraction, "--slm-start"},
        {s.weighting != defaults.weighting, "--weighting"}, {s.temperature != defaults.temperature, "--temperature"},
        {s.stream_window != defaults.stream_window, "--stream-window"}};
    for (const auto& [given, flag] : slm_only)
      if (given) fail(std::string(flag) + " applies to --objective slm only; this run is --objective " + objective);
    return;
  }
  if (!s.ref_scores.empty() && !s.ref_model.empty()) fail("pass --ref-scores or --ref-model, not both");
  if (!s.ref_tokenizer.empty() && s.ref_scores.empty())
    fail("--ref-tokenizer needs --ref-scores: it names the tokenizer a --cross-tokenizer reference scored them with");
  if (s.weighting == TokenWeighting::TopK && s.temperature != defaults.temperature)
    fail("--temperature applies to --weighting softmax only; this run is --weighting topk");
  if (s.weighting == TokenWeighting::Softmax && s.ratio != defaults.ratio)
    fail("--ratio is top-k's kept share; --weighting softmax trains on every token (weighted), so it does nothing");
  if (s.scope != SelectionScope::Stream && s.stream_window != defaults.stream_window)
    fail("--stream-window applies to --selection-scope stream only; this run is --selection-scope " + to_string(s.scope));
  const int64_t step_tokens = micro_batch * seq_len * grad_accum * world;
  if (s.scope == SelectionScope::Stream && s.stream_window != 0 && s.stream_window < step_tokens)
    fail("--stream-window must hold at least one step's tokens (--batch x --seq-len x --grad-accum x processes = " +
         std::to_string(step_tokens) + "), got " + std::to_string(s.stream_window));
  if (s.scope == SelectionScope::Stream && s.weighting == TokenWeighting::Softmax)
    fail("--selection-scope stream keeps tokens above a running threshold; --weighting softmax has no threshold "
         "(use it with --selection-scope batch, micro-batch or sequence)");
  const bool has_ref = !s.ref_scores.empty() || !s.ref_model.empty();
  if (s.needs_reference() && !has_ref)
    fail("--score " + to_string(s.score) + " needs reference losses: pass --ref-scores DIR or --ref-model DIR");
  if (!s.needs_reference() && has_ref)
    fail(std::string(s.ref_scores.empty() ? "--ref-model" : "--ref-scores") + " does nothing with --score " +
         to_string(s.score) + " (it ranks by the model's own losses or at random)");
}

void TrainOptions::check_resume(const nlohmann::json& saved, const std::string& where) const {
  TrainOptions copy = *this;
  const nlohmann::json now = to_json();
  CheckResume v{saved, now, where};
  copy.describe(v);
  // The global batch, however it is split: the data order and the selection depend on it alone.
  auto split = [](const nlohmann::json& j) {
    return std::to_string(j.value("world", int64_t(1))) + " process(es) x --grad-accum " +
           std::to_string(j.value("grad_accum", int64_t(1)));
  };
  auto global = [](const nlohmann::json& j) { return j.value("world", int64_t(1)) * j.value("grad_accum", int64_t(1)); };
  if (!saved.contains("grad_accum")) fail_unrecorded(where, "--grad-accum");
  if (global(saved) != global(now))
    fail_file(where, "was written with " + split(saved) + " micro-batches per step, this run has " + split(now) +
                         "; a resume may split the global batch differently but must keep its size");
}

}  // namespace rho
