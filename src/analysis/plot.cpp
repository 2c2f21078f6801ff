#include "analysis/plot.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fileio.h"

extern char** environ;

namespace rho {
namespace {

// Runs argv[0] (looked up on PATH) with stdout and stderr sent to `log`; returns its exit status
// (-1 when it could not be started).
int run_logged(const std::vector<std::string>& args, const std::string& log) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A gnuplot string literal: single quotes take everything literally except a doubled quote.
std::string gp_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "''";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out + "'";
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Which terminal to draw with: "svg", "pngcairo" or "png" (libgd), asked of gnuplot itself.
std::string pick_terminal(const std::string& out, const std::string& scratch) {
  if (ends_with(out, ".svg")) return "svg";
  const std::string log = scratch + ".terminals";
  run_logged({"gnuplot", "-e", "set terminal"}, log);
  std::string listing = file_exists(log) ? read_file(log) : "";
  std::remove(log.c_str());
  if (listing.find(" pngcairo ") != std::string::npos) return "pngcairo";
  if (listing.find(" png ") != std::string::npos) return "png";
  return "svg";
}

}  // namespace

bool gnuplot_available() {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    const size_t end = std::min(p.find(':', start), p.size());
    const std::string dir = p.substr(start, end - start);
    if (!dir.empty() && ::access((dir + "/gnuplot").c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

std::string render_plot(const PlotSpec& spec, const std::string& out_path) {
  if (!gnuplot_available()) fail("gnuplot not found on PATH (install gnuplot-nox) -- needed to draw " + out_path);
  if (spec.series.empty()) fail(out_path + ": nothing to plot");
  std::string out = out_path;
  const auto parent = std::filesystem::path(out).parent_path();
  if (!parent.empty()) make_dirs(parent.string());
  const std::string terminal = pick_terminal(out, out_path);
  if (terminal == "svg" && !ends_with(out, ".svg")) {
    const auto dot = out.find_last_of('.');
    out = (dot == std::string::npos || dot < out.find_last_of('/') + 1 ? out : out.substr(0, dot)) + ".svg";
    std::fprintf(stderr, "plot: gnuplot has no PNG terminal; writing SVG to %s\n", out.c_str());
  }

  // Data: one gnuplot data block per series, separated by two blank lines (selected by `index`).
  const std::string data = out + ".dat", script = out + ".gp";
  double max_x = 0;
  std::string d;
  for (const auto& s : spec.series) {
    d += "# " + s.label + "\n";
    for (size_t i = 0; i < s.x.size(); ++i) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "%.10g %.10g\n", s.x[i], s.y[i]);
      d += buf;
      max_x = std::max(max_x, std::abs(s.x[i]));
    }
    d += "\n\n";
  }
  write_file_atomic(data, d);

  // gnuplot draws to a temporary name renamed on success: no half-drawn image at `out`.
  const std::string tmp_out = out + ".tmp." + std::to_string(::getpid());
  std::string g;
  g += "set terminal " + terminal + " size 1000,640 noenhanced" + (terminal == "svg" ? "" : " font 'sans,11'") + "\n";
  g += "set output " + gp_quote(tmp_out) + "\n";
  g += "set title " + gp_quote(spec.title) + "\n";
  g += "set xlabel " + gp_quote(spec.xlabel) + "\n";
  g += "set ylabel " + gp_quote(spec.ylabel) + "\n";
  g += "set grid\nset key outside right top\n";  // never over the curves

  if (max_x >= 1e4) g += "set format x '%.1s%c'\n";  // 1.5M rather than 1500000
  g += "plot ";
  for (size_t i = 0; i < spec.series.size(); ++i) {
    g += (i ? ", \\\n     " : "") + gp_quote(data) + " index " + std::to_string(i) + " using 1:2 with " +
         (spec.points ? "linespoints pt 7 ps 0.8" : "lines") + " lw 2 title " + gp_quote(spec.series[i].label);
  }
  g += "\nunset output\n";
  write_file_atomic(script, g);

  const std::string log = out + ".log";
  const int rc = run_logged({"gnuplot", script}, log);
  std::string err = file_exists(log) ? read_file(log) : "";
  std::remove(log.c_str());
  if (rc != 0 || !file_exists(tmp_out) || std::filesystem::file_size(tmp_out) == 0) {
    std::remove(tmp_out.c_str());
    // gnuplot's errors span lines (the offending line, a caret, the message): keep the message.
    std::string msg;
    size_t at = err.find("line ");
    msg = at == std::string::npos ? err : err.substr(at);
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    if (msg.size() > 200) msg = msg.substr(0, 200) + "...";
    fail_file(script, "gnuplot failed (exit " + std::to_string(rc) + ")" + (msg.empty() ? "" : ": " + msg));
  }
  std::filesystem::rename(tmp_out, out);
  return out;
}

PlotSeries read_metric_series(const std::string& path_in, const std::string& x_key, const std::string& metric,
                              const std::string& label) {
  std::error_code ec;
  const std::string path = std::filesystem::is_directory(path_in, ec) ? path_in + "/metrics.jsonl" : path_in;
  if (!file_exists(path)) fail_file(path, "no such metrics file");
  std::ifstream in(path);
  std::string line;
  int64_t line_no = 0;
  PlotSeries s;
  s.label = label;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) fail_file(path, "line " + std::to_string(line_no) + ": not a JSON object");
    auto x = j.find(x_key), y = j.find(metric);
    if (x == j.end() || y == j.end() || !x->is_number() || !y->is_number()) continue;
    s.x.push_back(x->get<double>());
    s.y.push_back(y->get<double>());
  }
  if (s.x.empty()) fail_file(path, "no line has both \"" + metric + "\" and \"" + x_key + "\"");
  return s;
}

std::string run_loss_plot(const LossPlotOptions& o) {
  if (o.runs.empty()) fail("no runs given (LABEL=RUN_DIR/metrics.jsonl ...)");
  PlotSpec spec;
  for (const auto& r : o.runs) {
    const size_t eq = r.find('=');
    std::string label, path;
    if (eq == std::string::npos) {
      // No label: name the run after its directory.
      path = r;
      auto p = std::filesystem::path(r);
      label = (ends_with(r, ".jsonl") ? p.parent_path().filename() : p.filename()).string();
      if (label.empty()) label = r;
    } else {
      label = r.substr(0, eq);
      path = r.substr(eq + 1);
    }
    spec.series.push_back(read_metric_series(path, o.x, o.metric, label));
  }
  spec.title = o.metric + " versus " + o.x;
  spec.xlabel = o.x == "step" ? "optimizer step" : o.x == "tokens_trained" ? "tokens trained (selected)" : "tokens seen";
  spec.ylabel = o.metric + (o.metric.find("loss") != std::string::npos ? " (nats/token)" : "");
  size_t most = 0;
  for (auto& s : spec.series) most = std::max(most, s.x.size());
  spec.points = most <= 30;  // sparse validation points read better with markers
  return render_plot(spec, o.out);
}

}  // namespace rho
