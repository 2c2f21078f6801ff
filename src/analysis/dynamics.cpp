#include "analysis/dynamics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "analysis/plot.h"
#include "common/error.h"
#include "common/fileio.h"
#include "measure/eval_sets.h"
#include "model/model_use.h"
#include "model/config.h"
#include "model/io.h"
#include "tokenizer/tokenizer.h"

namespace rho {

const char* category_name(TokenCategory c) {
  switch (c) {
    case TokenCategory::HH: return "H->H";
    case TokenCategory::LH: return "L->H";
    case TokenCategory::HL: return "H->L";
    case TokenCategory::LL: return "L->L";
  }
  return "?";
}

TokenCategory categorize(double dL, double last_loss, double last_checkpoint_mean) {
  constexpr double kEdge = 1e-6;  // see dynamics.h: float32 rounding must not decide
  if (dL < -kDynamicsThreshold - kEdge) return TokenCategory::HL;
  if (dL > kDynamicsThreshold + kEdge) return TokenCategory::LH;
  return last_loss <= last_checkpoint_mean ? TokenCategory::LL : TokenCategory::HH;
}

LineFit fit_line(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = double(x.size());
  double mx = 0, my = 0;
  for (size_t i = 0; i < x.size(); ++i) mx += x[i], my += y[i];
  mx /= n, my /= n;
  double sxx = 0, sxy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxx += (x[i] - mx) * (x[i] - mx);
    sxy += (x[i] - mx) * (y[i] - my);
  }
  if (sxx == 0) fail("a line through the checkpoints needs at least two different x values");
  LineFit f;
  f.slope = sxy / sxx;
  f.intercept = my - f.slope * mx;
  return f;
}

DynamicsSummary analyze_dynamics(const std::vector<double>& x, const std::vector<std::vector<float>>& losses) {
  const size_t C = losses.size();
  if (C < 2 || x.size() != C) fail("token dynamics need at least two checkpoints");
  const size_t N = losses[0].size();
  for (auto& row : losses)
    if (row.size() != N) fail("checkpoints scored different numbers of tokens");
  DynamicsSummary s;
  s.x = x;
  for (auto& row : losses) {
    double sum = 0;
    for (float l : row) sum += l;
    s.checkpoint_mean.push_back(N ? sum / double(N) : 0);
  }
  for (auto& curve : s.curves) curve.assign(C, 0.0);
  s.tokens.resize(N);
  std::vector<double> y(C);
  for (size_t i = 0; i < N; ++i) {
    for (size_t c = 0; c < C; ++c) y[c] = losses[c][i];
    const LineFit f = fit_line(x, y);
    auto& t = s.tokens[i];
    t.slope = f.slope;
    t.dL = f.slope * (x.back() - x.front());  // fitted end - fitted start
    t.category = categorize(t.dL, y.back(), s.checkpoint_mean.back());
    const int k = int(t.category);
    ++s.counts[size_t(k)];
    for (size_t c = 0; c < C; ++c) s.curves[size_t(k)][c] += y[c];
  }
  for (int k = 0; k < kTokenCategories; ++k)
    for (auto& v : s.curves[size_t(k)]) v /= double(std::max<int64_t>(1, s.counts[size_t(k)]));
  return s;
}

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// The x of each checkpoint: the training step from trainer_state.json when every checkpoint has
// one (so unevenly spaced checkpoints get an honest fit), else the checkpoint's index.
std::vector<double> checkpoint_x(const std::vector<std::string>& ckpts, bool& from_steps) {
  std::vector<double> steps;
  for (auto& dir : ckpts) {
    const std::string state = dir + "/trainer_state.json";
    if (!file_exists(state)) break;
    auto j = nlohmann::json::parse(read_file(state), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.contains("step") || !j["step"].is_number()) fail_file(state, "no numeric \"step\"");
    steps.push_back(j["step"].get<double>());
  }
  from_steps = steps.size() == ckpts.size();
  if (from_steps) {
    // Steps that do not all differ would make the x axis meaningless (the same run given twice?).
    auto sorted = steps;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end()) return steps;
    std::fprintf(stderr, "dynamics: checkpoints share a step number; using their order as x\n");
    from_steps = false;
  }
  std::vector<double> idx(ckpts.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = double(i);
  return idx;
}

std::string fixed(double v, int prec) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

// Every checkpoint's losses of the set's scored tokens, the first N.
std::vector<std::vector<float>> checkpoint_losses(const DynamicsOptions& o, const EvalSet& set, size_t N) {
  std::vector<std::vector<float>> losses;
  MeasureOptions eval;
  eval.batch = o.batch;
  eval.compute = o.compute;
  eval.head = o.head;
  for (const auto& dir : o.checkpoints) {
    auto model = load_model(dir);  // checked by run_dynamics
    prepare_for_inference(*model, o.compute);
    auto l = sequence_losses(model, set.sequences, eval);
    l.resize(N);
    double sum = 0;
    for (float v : l) sum += v;
    std::fprintf(stderr, "dynamics: %s: mean loss %.4f over %zu tokens\n", dir.c_str(), sum / double(std::max<size_t>(1, N)), N);
    losses.push_back(std::move(l));
  }
  return losses;
}

// tokens.csv: one row per token, its loss at each checkpoint (columns `names`), slope and category.
void write_tokens_csv(const std::string& path, const Tokenizer& tok, const std::vector<int32_t>& token_ids,
                      const std::vector<std::string>& names, const std::vector<std::vector<float>>& losses,
                      const DynamicsSummary& s) {
  write_file_atomic(path, [&](std::FILE* f) {
    std::string header = "position,token_id,token";
    for (auto& n : names) header += ",loss_" + n;
    header += ",slope,dL,category\n";
    fwrite_checked(f, header.data(), header.size(), path);
    for (size_t i = 0; i < token_ids.size(); ++i) {
      std::string row = std::to_string(i) + "," + std::to_string(token_ids[i]) + "," + csv_field(tok.id_to_piece(token_ids[i]));
      for (size_t c = 0; c < losses.size(); ++c) row += "," + fixed(losses[c][i], 5);
      char buf[64];
      std::snprintf(buf, sizeof buf, ",%.6g,%.5f,", s.tokens[i].slope, s.tokens[i].dL);
      row += buf;
      row += std::string(category_name(s.tokens[i].category)) + "\n";
      fwrite_checked(f, row.data(), row.size(), path);
    }
  });
}

// shares.md (returned) and summary.json: each category's share beside the paper's.
std::string write_shares(const DynamicsOptions& o, const DynamicsSummary& s, size_t N, int64_t seq_len,
                         const std::vector<double>& x, bool from_steps) {
  const double paper[kTokenCategories] = {11, 12, 26, 51};
  std::string md = "Token loss dynamics: " + std::to_string(N) + " tokens of " + o.data + ", " +
                   std::to_string(o.checkpoints.size()) + " checkpoints (x = " + (from_steps ? "training step" : "checkpoint index") +
                   ").\n\n| category | tokens | share (%) | paper (%) | mean loss, first | mean loss, last |\n"
                   "|---|---:|---:|---:|---:|---:|\n";
  nlohmann::json cats = nlohmann::json::object();
  for (int k = 0; k < kTokenCategories; ++k) {
    const double share = N ? double(s.counts[size_t(k)]) / double(N) : 0;
    const auto& curve = s.curves[size_t(k)];
    md += std::string("| ") + category_name(TokenCategory(k)) + " | " + std::to_string(s.counts[size_t(k)]) + " | " +
          fixed(100 * share, 1) + " | " + fixed(paper[k], 0) + " | " + fixed(curve.front(), 3) + " | " +
          fixed(curve.back(), 3) + " |\n";
    cats[category_name(TokenCategory(k))] = {{"tokens", s.counts[size_t(k)]}, {"share", share}, {"mean_loss", curve}};
  }
  md += "| all | " + std::to_string(N) + " | 100.0 | 100 | " + fixed(s.checkpoint_mean.front(), 3) + " | " +
        fixed(s.checkpoint_mean.back(), 3) + " |\n";
  write_file_atomic(o.out_dir + "/shares.md", md);
  nlohmann::json summary = {{"tokenizer", o.tokenizer},     {"data", o.data},
                            {"tokens", int64_t(N)},          {"seq_len", seq_len},
                            {"checkpoints", o.checkpoints},  {"x", x},
                            {"x_is_step", from_steps},       {"checkpoint_mean_loss", s.checkpoint_mean},
                            {"categories", cats},            {"threshold", kDynamicsThreshold}};
  write_file_atomic(o.out_dir + "/summary.json", summary.dump(2) + "\n");
  return md;
}

// curves.png: mean loss of each category over the checkpoints ("" without gnuplot).
std::string plot_curves(const std::string& out_dir, const DynamicsSummary& s, size_t N, const std::vector<double>& x,
                        bool from_steps) {
  if (!gnuplot_available()) return "";
  PlotSpec p;
  p.title = "Mean token loss by category (" + std::to_string(N) + " tokens)";
  p.xlabel = from_steps ? "training step" : "checkpoint";
  p.ylabel = "loss (nats/token)";
  p.points = true;
  for (int k = 0; k < kTokenCategories; ++k) {
    if (s.counts[size_t(k)] == 0) continue;
    p.series.push_back({std::string(category_name(TokenCategory(k))) + " (" +
                            fixed(100.0 * double(s.counts[size_t(k)]) / double(N), 1) + "%)",
                        x, s.curves[size_t(k)]});
  }
  p.series.push_back({"all", x, s.checkpoint_mean});
  return render_plot(p, out_dir + "/curves.png");
}

}  // namespace

DynamicsReport run_dynamics(const DynamicsOptions& o) {
  if (o.checkpoints.size() < 2) fail("token dynamics need at least two checkpoints (given " + std::to_string(o.checkpoints.size()) + ")");
  if (o.max_tokens < 1) fail("--max-tokens must be at least 1");
  const Tokenizer tok = Tokenizer::load(o.tokenizer);
  // Every checkpoint's config and tokenizer first: a wrong one fails before any model runs.
  int64_t seq_len = o.seq_len;
  if (seq_len <= 0)
    for (auto& dir : o.checkpoints) {
      const int64_t positions = load_config(dir + "/config.json").max_position_embeddings;
      seq_len = seq_len <= 0 ? positions : std::min(seq_len, positions);
    }
  const ModelUse use{"checkpoint", tok.id(), seq_len, o.allow_unrecorded_tokenizer};
  for (auto& dir : o.checkpoints) check_model_use(dir, load_config(dir + "/config.json"), read_tokenizer_record(dir), use);
  bool from_steps = false;
  const std::vector<double> x = checkpoint_x(o.checkpoints, from_steps);

  EvalSetOptions so;
  so.format = o.format;
  so.seq_len = seq_len;
  so.max_tokens = o.max_tokens;
  EvalSet set = load_eval_set(o.data, tok, so);
  // Positions of the scored tokens in set order, trimmed to exactly max_tokens.
  std::vector<int32_t> token_ids;
  for (auto& s : set.sequences)
    for (size_t p = size_t(s.first_scored); p < s.tokens.size(); ++p) token_ids.push_back(s.tokens[p]);
  const size_t N = std::min(token_ids.size(), size_t(o.max_tokens));
  token_ids.resize(N);

  const auto losses = checkpoint_losses(o, set, N);
  DynamicsSummary s = analyze_dynamics(x, losses);
  make_dirs(o.out_dir);
  // Column names: the step of each checkpoint, or its index.
  std::vector<std::string> names;
  for (size_t c = 0; c < x.size(); ++c) names.push_back(from_steps ? "step" + fixed(x[c], 0) : "ckpt" + std::to_string(c));
  write_tokens_csv(o.out_dir + "/tokens.csv", tok, token_ids, names, losses, s);
  const std::string md = write_shares(o, s, N, seq_len, x, from_steps);
  return DynamicsReport{s, md, plot_curves(o.out_dir, s, N, x, from_steps)};
}

}  // namespace rho
