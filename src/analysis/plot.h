// Line plots through gnuplot, run as a subprocess on a generated script and data files (no
// plotting library to link). Used by `rho analyze plot` (loss versus tokens of several runs) and
// by `rho analyze dynamics` (mean loss per token category across checkpoints).
#pragma once
#include <string>
#include <vector>

namespace rho {

struct PlotSeries {
  std::string label;
  std::vector<double> x, y;
};

struct PlotSpec {
  std::string title, xlabel, ylabel;
  std::vector<PlotSeries> series;
  bool points = false;  // draw markers too (few points per series)
};

// True when `gnuplot` is on PATH.
bool gnuplot_available();

// Renders `spec` to `out`. The terminal follows the extension: .svg -> svg; otherwise pngcairo,
// or gnuplot's libgd png where cairo is missing; when gnuplot has neither PNG terminal the plot
// is written as SVG next to `out` (extension replaced) instead. The data and the script are kept
// beside the image (<out>.dat, <out>.gp) so a plot can be restyled by hand.
// Returns the path written. UserError when gnuplot is missing or fails (its first error line).
std::string render_plot(const PlotSpec& spec, const std::string& out);

// One run's metric curve from a metrics.jsonl (or a run directory holding one): lines carrying
// both keys, in file order. UserError naming the file when it is missing, has invalid JSON, or
// no line has the metric.
PlotSeries read_metric_series(const std::string& path, const std::string& x_key, const std::string& metric,
                              const std::string& label);

struct LossPlotOptions {
  std::vector<std::string> runs;  // LABEL=PATH (PATH: metrics.jsonl or a run directory)
  std::string metric = "val_loss";
  std::string x = "tokens_seen";  // tokens_seen | tokens_trained | step
  std::string out = "loss.png";
};

std::string run_loss_plot(const LossPlotOptions& opts);

}  // namespace rho
