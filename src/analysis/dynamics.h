// Token loss dynamics, the Rho-1 paper's motivating analysis: per-token losses on one fixed set
// at several checkpoints, a least-squares line per token across checkpoints, and four categories
// by how the fitted loss moves:
//   dL = fitted end - fitted start
//   H->L  dL < -0.2          (being learnt)
//   L->H  dL >  0.2          (being forgotten)
//   else  L->L if the token's loss at the last checkpoint is at most that checkpoint's mean loss
//         over the set, H->H otherwise.
// Exactly -0.2 or 0.2 is neither H->L nor L->H. Losses are float32 (a trajectory 1.2 -> 1.0 is
// stored as 1.2000000477 -> 1.0), so that rounding cannot flip a category, dL within 1e-6 of
// +-0.2 counts as on the boundary.
// The paper found H->H 11%, L->H 12%, H->L 26%, L->L 51%.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/documents.h"
#include "model/compute.h"
#include "model/fused_head.h"

namespace rho {

enum class TokenCategory { HH = 0, LH = 1, HL = 2, LL = 3 };  // the paper's order
constexpr int kTokenCategories = 4;
const char* category_name(TokenCategory c);  // "H->H", "L->H", "H->L", "L->L"

constexpr double kDynamicsThreshold = 0.2;
TokenCategory categorize(double dL, double last_loss, double last_checkpoint_mean);

// Least-squares line y = intercept + slope * x. x needs at least two distinct values.
struct LineFit {
  double intercept = 0, slope = 0;
};
LineFit fit_line(const std::vector<double>& x, const std::vector<double>& y);

struct TokenDynamics {
  double slope = 0, dL = 0;
  TokenCategory category = TokenCategory::LL;
};

struct DynamicsSummary {
  std::vector<double> x;                                // per checkpoint
  std::vector<double> checkpoint_mean;                  // mean loss over all tokens, per checkpoint
  std::array<int64_t, kTokenCategories> counts{};       // tokens per category
  std::array<std::vector<double>, kTokenCategories> curves;  // mean loss per category, per checkpoint
  std::vector<TokenDynamics> tokens;
};

// losses[c][i]: loss of token i at checkpoint c (all rows the same length, at least 2 rows).
DynamicsSummary analyze_dynamics(const std::vector<double>& x, const std::vector<std::vector<float>>& losses);

struct DynamicsOptions {
  std::string tokenizer;
  std::string data;                  // token shards, or text / JSONL documents
  DocFormat format;                  // for JSONL
  std::vector<std::string> checkpoints;  // model directories, oldest first
  int64_t max_tokens = 20000;
  int64_t seq_len = 0;               // 0: the smallest max_position_embeddings of the checkpoints
  int64_t batch = 8;
  std::string out_dir;               // tokens.csv, shares.md, summary.json, curves.png
  bool allow_unrecorded_tokenizer = false;  // model/model_use.h
  Compute compute;
  HeadOptions head;  // fused chunked head (default) or the plain path
};

struct DynamicsReport {
  DynamicsSummary summary;
  std::string shares_md;  // the table written to shares.md
  std::string plot;       // curves.png, or "" when gnuplot is not installed
};

// Losses of every checkpoint (measure/token_losses.h), the categories, and the files in out_dir.
DynamicsReport run_dynamics(const DynamicsOptions& opts);

}  // namespace rho
