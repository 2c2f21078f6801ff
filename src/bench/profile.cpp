#include "bench/profile.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_kineto.h>
#define RHO_PROFILER_INCLUDED
#include "common/torch_compat.h"

#include "common/error.h"
#include "common/fileio.h"

namespace rho {
namespace {

namespace prof = torch::profiler::impl;

std::set<prof::ActivityType> activities(bool cuda) {
  std::set<prof::ActivityType> a{prof::ActivityType::CPU};
  if (cuda) a.insert(prof::ActivityType::CUDA);
  return a;
}

std::string line(const char* fmt, double a, double b, double c, long long n, const std::string& name) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, a, b, c, n);
  return buf + name + "\n";
}

struct Total {
  double ns = 0;
  long long count = 0;
};

// The `top` names by total time, as table rows: total ms, ms a step, share of the wall time.
std::string top_rows(const std::map<std::string, Total>& totals, double wall_ms, int64_t steps, size_t top) {
  std::vector<std::pair<std::string, Total>> rows(totals.begin(), totals.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ns > b.second.ns; });
  std::string out = "   total ms   ms/step   share   count  name\n";
  for (size_t i = 0; i < std::min(top, rows.size()); ++i) {
    const double ms = rows[i].second.ns / 1e6;
    std::string name = rows[i].first;
    if (name.size() > 110) name = name.substr(0, 107) + "...";
    out += line("%11.2f %9.2f %6.1f%% %7lld  ", ms, ms / double(steps), 100.0 * ms / wall_ms, rows[i].second.count, name);
  }
  return out;
}

// Host operators' self time: each one's duration less its direct children's (operators nest on
// a thread as calls do).
std::map<std::string, Total> host_self_times(std::vector<ProfiledEvent> host) {
  std::sort(host.begin(), host.end(), [](const auto& a, const auto& b) {
    return a.thread != b.thread ? a.thread < b.thread
                                : a.start_ns != b.start_ns ? a.start_ns < b.start_ns : a.duration_ns > b.duration_ns;
  });
  std::vector<double> self(host.size());
  std::vector<size_t> open;  // indices of the enclosing operators
  for (size_t i = 0; i < host.size(); ++i) {
    self[i] = double(host[i].duration_ns);
    const int64_t start = host[i].start_ns;
    while (!open.empty() && (host[open.back()].thread != host[i].thread ||
                             host[open.back()].start_ns + host[open.back()].duration_ns <= start))
      open.pop_back();
    if (!open.empty()) self[open.back()] -= double(host[i].duration_ns);
    open.push_back(i);
  }
  std::map<std::string, Total> totals;
  for (size_t i = 0; i < host.size(); ++i) {
    totals[host[i].name].ns += std::max(0.0, self[i]);
    totals[host[i].name].count += 1;
  }
  return totals;
}

// The device's busy time: the union of its kernels' intervals.
double busy_ns(std::vector<ProfiledEvent> device) {
  std::sort(device.begin(), device.end(), [](const auto& a, const auto& b) { return a.start_ns < b.start_ns; });
  double busy = 0;
  int64_t lo = 0, hi = -1;
  for (const auto& e : device) {
    if (e.start_ns > hi) {
      if (hi >= lo) busy += double(hi - lo);
      lo = e.start_ns;
      hi = e.start_ns + e.duration_ns;
    } else {
      hi = std::max(hi, e.start_ns + e.duration_ns);
    }
  }
  if (hi >= lo) busy += double(hi - lo);
  return busy;
}

// Which fused attention the kernels' names say ran.
std::string attention_backend(const std::map<std::string, Total>& kernels) {
  std::vector<std::string> found;
  auto has = [](const std::string& s, const char* part) { return s.find(part) != std::string::npos; };
  for (const auto& [name, t] : kernels) {
    std::string kind;
    if (has(name, "flash")) kind = "flash";
    else if (has(name, "cudnn") && (has(name, "attn") || has(name, "sdpa") || has(name, "fmha") || has(name, "mha"))) kind = "cuDNN";
    else if (has(name, "efficient_attention") || has(name, "fmha_cutlass") || has(name, "mem_eff")) kind = "memory-efficient";
    if (!kind.empty() && std::find(found.begin(), found.end(), kind) == found.end()) found.push_back(kind);
  }
  if (found.empty()) return "none of flash, cuDNN or memory-efficient among the kernels (the plain softmax path)";
  std::string s;
  for (const auto& k : found) s += (s.empty() ? "" : ", ") + k;
  return s;
}

}  // namespace

StepProfiler::StepProfiler(bool cuda) {
  const prof::ProfilerConfig config(prof::ProfilerState::KINETO);
  torch::autograd::profiler::prepareProfiler(config, activities(cuda));
  torch::autograd::profiler::enableProfiler(config, activities(cuda));
  running_ = true;
}

StepProfiler::~StepProfiler() {
  if (running_) (void)torch::autograd::profiler::disableProfiler();
}

std::vector<ProfiledEvent> StepProfiler::stop(const std::string& kineto_trace, bool* kineto_written) {
  running_ = false;
  auto result = torch::autograd::profiler::disableProfiler();
  std::vector<ProfiledEvent> events;
  for (const auto& e : result->events()) {
    const auto [start, duration] = compat::event_span_ns(e);
    events.push_back({e.name(), e.deviceType() != c10::DeviceType::CPU, start, duration, e.startThreadId()});
  }
  if (kineto_written) *kineto_written = false;
  if (!kineto_trace.empty()) {
    try {
      result->save(kineto_trace);  // Kineto's writer: absent from builds without Kineto (Debian's)
      if (kineto_written) *kineto_written = true;
    } catch (const std::exception&) {
    }
  }
  return events;
}

std::string profile_table(const std::vector<ProfiledEvent>& events, double wall_ms, int64_t steps, size_t top) {
  std::vector<ProfiledEvent> device, host;
  for (const auto& e : events) (e.on_device ? device : host).push_back(e);
  std::string out;
  char buf[256];
  if (!device.empty()) {
    std::map<std::string, Total> kernels;
    for (const auto& e : device) {
      kernels[e.name].ns += double(e.duration_ns);
      kernels[e.name].count += 1;
    }
    const double busy_ms = busy_ns(device) / 1e6;
    std::snprintf(buf, sizeof buf,
                  "device kernels: %lld over %lld step(s), %.1f ms wall; GPU busy %.1f ms (%.1f%%), idle between "
                  "kernels %.1f ms (%.1f%%)\n",
                  (long long)device.size(), (long long)steps, wall_ms, busy_ms, 100.0 * busy_ms / wall_ms,
                  wall_ms - busy_ms, 100.0 * (wall_ms - busy_ms) / wall_ms);
    out += buf;
    out += "attention kernels: " + attention_backend(kernels) + "\n";
    out += "the " + std::to_string(std::min(top, kernels.size())) + " most expensive kernels:\n";
    out += top_rows(kernels, wall_ms, steps, top);
  } else {
    std::snprintf(buf, sizeof buf, "no device kernels (a CPU run): host operators by self time, %lld step(s), %.1f ms wall\n",
                  (long long)steps, wall_ms);
    out += buf;
    out += top_rows(host_self_times(host), wall_ms, steps, top);
  }
  return out;
}

void write_chrome_trace(const std::string& path, const std::vector<ProfiledEvent>& events) {
  nlohmann::json trace = nlohmann::json::array();
  int64_t t0 = events.empty() ? 0 : events.front().start_ns;
  for (const auto& e : events) t0 = std::min(t0, e.start_ns);
  for (const auto& e : events)
    trace.push_back({{"name", e.name},
                     {"cat", e.on_device ? "kernel" : "cpu_op"},
                     {"ph", "X"},
                     {"ts", double(e.start_ns - t0) / 1e3},
                     {"dur", double(e.duration_ns) / 1e3},
                     {"pid", e.on_device ? 1 : 0},
                     {"tid", e.on_device ? 0 : e.thread}});
  write_file_atomic(path, nlohmann::json{{"traceEvents", trace}, {"displayTimeUnit", "ms"}}.dump() + "\n");
}

}  // namespace rho
