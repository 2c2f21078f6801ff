#include "dist/sharded_optimizer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>

#include "common/error.h"
#include "common/fileio.h"
#include "common/torch_compat.h"
#include "model/safetensors.h"

namespace rho {
namespace {

// Buckets waiting for their reduce-scatter at once: later buckets wait for the oldest, so the
// scratch of a backward never grows to the whole gradient.
constexpr size_t kMaxInFlight = 2;

std::string rank_file(const std::string& dir, int64_t rank) {
  char name[40];
  std::snprintf(name, sizeof name, "/rank_%05lld.safetensors", static_cast<long long>(rank));
  return dir + name;
}

int64_t bytes_of(const torch::Tensor& t) { return t.defined() ? t.numel() * int64_t(t.element_size()) : 0; }

// A checkpoint's slices as save_slices wrote them, at whatever world size: any element range of any
// parameter's moments, read from the rank files that hold it.
class SlicedState {
 public:
  explicit SlicedState(const std::string& dir) : dir_(dir), manifest_(dir + "/manifest.json") {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(manifest_));
    } catch (const nlohmann::json::exception& e) {
      fail_file(manifest_, std::string("invalid JSON: ") + e.what());
    }
    try {
      world_ = j.at("world").get<int64_t>();
      step_ = j.at("step").get<int64_t>();
      if (world_ < 1 || step_ < 0) fail_file(manifest_, "world must be >= 1 and step >= 0");
      const auto& buckets = j.at("buckets");
      for (size_t b = 0; b < buckets.size(); ++b) {
        const int64_t elements = buckets[b].at("elements").get<int64_t>(), slice = buckets[b].at("slice").get<int64_t>();
        // Slices are ceil(n_b / N) long (ShardedAdamW's constructor): anything else is another layout.
        if (elements < 1 || slice != (elements + world_ - 1) / world_)
          fail_file(manifest_, "bucket " + std::to_string(b) + ": " + std::to_string(elements) + " elements over " +
                                   std::to_string(world_) + " ranks make slices of " +
                                   std::to_string((elements + world_ - 1) / world_) + ", it says " + std::to_string(slice));
        slices_.push_back(slice);
        for (const auto& p : buckets[b].at("params")) {
          Loc loc{b, p.at("offset").get<int64_t>(), p.at("shape").get<std::vector<int64_t>>()};
          int64_t n = 1;
          for (int64_t d : loc.shape) n *= d;
          if (loc.offset < 0 || loc.offset + n > elements)
            fail_file(manifest_, "parameter '" + p.at("name").get<std::string>() + "' lies outside its bucket");
          where_[p.at("name").get<std::string>()] = loc;
        }
      }
    } catch (const nlohmann::json::exception& e) {
      fail_file(manifest_, std::string("missing or mistyped field: ") + e.what());
    }
    for (int64_t r = 0; r < world_; ++r)
      if (!file_exists(rank_file(dir_, r)))
        fail_file(rank_file(dir_, r), "missing: manifest.json lists " + std::to_string(world_) + " ranks' slices");
  }
  int64_t step() const { return step_; }
  int64_t world() const { return world_; }

  // Refuses a manifest that does not describe exactly these parameters.
  void check_params(const ShardedAdamW::NamedParams& params) const {
    for (const auto& [name, p] : params) {
      auto it = where_.find(name);
      if (it == where_.end()) fail_file(manifest_, "has no slices of parameter '" + name + "' of this model");
      if (it->second.shape != p.sizes().vec())
        fail_file(manifest_, "parameter '" + name + "' has shape " + c10::str(c10::IntArrayRef(it->second.shape)) +
                                 ", the model's is " + c10::str(p.sizes()));
    }
    if (where_.size() != params.size())
      fail_file(manifest_, "lists " + std::to_string(where_.size()) + " parameters, the model has " +
                               std::to_string(params.size()));
  }

  // Moments of elements [begin, begin + length) of parameter `name` (flattened).
  std::pair<torch::Tensor, torch::Tensor> read(const std::string& name, int64_t begin, int64_t length) {
    const Loc& loc = where_.at(name);
    const int64_t S = slices_[loc.bucket];
    auto m = torch::empty({length}, torch::kFloat), v = torch::empty({length}, torch::kFloat);
    for (int64_t done = 0; done < length;) {
      const int64_t at = loc.offset + begin + done, owner = at / S, in_slice = at % S;
      const int64_t n = std::min(length - done, S - in_slice);
      m.narrow(0, done, n).copy_(tensor(owner, "exp_avg", loc.bucket).narrow(0, in_slice, n));
      v.narrow(0, done, n).copy_(tensor(owner, "exp_avg_sq", loc.bucket).narrow(0, in_slice, n));
      done += n;
    }
    return {m, v};
  }

 private:
  struct Loc {
    size_t bucket = 0;
    int64_t offset = 0;
    std::vector<int64_t> shape;
  };
  const torch::Tensor& tensor(int64_t rank, const std::string& kind, size_t bucket) {
    const std::string path = rank_file(dir_, rank);
    auto it = files_.find(rank);
    if (it == files_.end()) it = files_.emplace(rank, load_safetensors(path)).first;
    const std::string key = kind + "." + std::to_string(bucket);
    auto t = it->second.tensors.find(key);
    if (t == it->second.tensors.end()) fail_file(path, "missing tensor '" + key + "' that manifest.json lists");
    if (t->second.dim() != 1 || t->second.numel() != slices_[bucket] || t->second.scalar_type() != torch::kFloat)
      fail_file(path, "tensor '" + key + "' has " + std::to_string(t->second.numel()) +
                          " elements, manifest.json says slices of " + std::to_string(slices_[bucket]) + " (F32)");
    return t->second;
  }
  std::string dir_, manifest_;
  int64_t world_ = 0, step_ = 0;
  std::vector<int64_t> slices_;
  std::map<std::string, Loc> where_;
  std::map<int64_t, SafetensorsFile> files_;
};

}  // namespace

ShardedAdamW::ShardedAdamW(Distributed& dist, NamedParams params, const OptimOptions& o, ShardLevel level,
                           int64_t bucket_bytes)
    : dist_(dist), params_(std::move(params)), o_(o), level_(level), bucket_of_(params_.size()) {
  if (level == ShardLevel::None) fail("internal: ShardedAdamW with --shard none");
  const int64_t N = dist.world(), r = dist.rank();
  std::vector<torch::Tensor> tensors;
  for (const auto& [name, p] : params_) {
    if (p.scalar_type() != torch::kFloat) fail("internal: ZeRO sharding keeps fp32 parameters");
    tensors.push_back(p);
  }
  for (auto& members : gradient_buckets(tensors, bucket_bytes)) {
    Bucket& bucket = buckets_.emplace_back();
    for (size_t k : members) {
      bucket_of_[k] = buckets_.size() - 1;
      bucket.offsets.push_back(bucket.elements);
      bucket.elements += params_[k].second.numel();
    }
    bucket.params = std::move(members);
  }
  torch::NoGradGuard no_grad;
  for (auto& b : buckets_) {
    b.slice = (b.elements + N - 1) / N;
    const auto opts = params_[b.params[0]].second.options();
    b.weights = torch::zeros({N * b.slice}, opts);
    for (size_t i = 0; i < b.params.size(); ++i) {
      auto& p = params_[b.params[i]].second;
      auto view = b.weights.narrow(0, b.offsets[i], p.numel()).view(p.sizes());
      view.copy_(p);
      p.set_data(view);
      // The part of this parameter inside the rank's slice [r*S, (r+1)*S).
      const int64_t lo = std::max(b.offsets[i], r * b.slice), hi = std::min(b.offsets[i] + p.numel(), (r + 1) * b.slice);
      if (lo < hi) b.segments.push_back({b.params[i], lo - b.offsets[i], lo - r * b.slice, hi - lo});
    }
    b.exp_avg = torch::zeros({b.slice}, opts);
    b.exp_avg_sq = torch::zeros({b.slice}, opts);
    b.grad_slice = torch::zeros({b.slice}, opts);  // kept, as DeepSpeed keeps its gradient partition
  }
  for (size_t k = 0; k < params_.size(); ++k)
    hooks_.push_back(params_[k].second.register_hook([this, k](const torch::Tensor& g) {
      on_grad(k, g);
      return torch::Tensor();
    }));
}

ShardedAdamW::~ShardedAdamW() {
  for (size_t k = 0; k < params_.size(); ++k) params_[k].second.remove_hook(hooks_[k]);
}

torch::Tensor ShardedAdamW::slice_of(const Bucket& b, const torch::Tensor& flat) const {
  return flat.narrow(0, int64_t(dist_.rank()) * b.slice, b.slice);
}

void ShardedAdamW::before_backward(bool last) {
  if (active_) flush();  // the step's earlier backward (--shard gradients reduces each one)
  active_ = level_ == ShardLevel::Gradients || last;
  for (auto& b : buckets_) b.ready = 0;
  got_.assign(params_.size(), 0);
}

// Runs inside backward, before autograd adds `incoming` into .grad.
void ShardedAdamW::on_grad(size_t k, const torch::Tensor& incoming) {
  if (!active_) return;
  Bucket& b = buckets_[bucket_of_[k]];
  if (!b.grads.defined()) b.grads = torch::zeros({b.weights.numel()}, b.weights.options());
  const auto& p = params_[k].second;
  size_t i = 0;
  while (b.params[i] != k) ++i;
  got_[k] = 1;
  auto slot = b.grads.narrow(0, b.offsets[i], p.numel()).view(p.sizes());
  slot.copy_(incoming);
  if (level_ == ShardLevel::Optimizer) {
    if (p.grad().defined()) slot.add_(p.grad());  // earlier micro-batches, accumulated in .grad
  } else {
    // Gradients already taken into a bucket have been added to .grad by now: drop them.
    for (size_t j : hooked_) params_[j].second.mutable_grad().reset();
    hooked_.assign(1, k);
  }
  note_grad_bytes();
  if (++b.ready == int64_t(b.params.size())) launch(b);
}

void ShardedAdamW::launch(Bucket& b) {
  auto reduced = torch::empty({b.slice}, b.weights.options());
  auto pending = dist_.reduce_scatter_sum_async(b.grads, reduced);
  // The sum is added to the slice's gradient once it arrives (wait()).
  struct Accumulate : PendingCollective {
    std::unique_ptr<PendingCollective> inner;
    Bucket* bucket;
    torch::Tensor reduced;
    void wait() override {
      inner->wait();
      bucket->grad_slice.add_(reduced);
      bucket->grads = torch::Tensor();
    }
  };
  auto acc = std::make_unique<Accumulate>();
  acc->inner = std::move(pending);
  acc->bucket = &b;
  acc->reduced = reduced;
  b.pending = std::move(acc);
  // Bounded scratch: wait for the oldest buckets still in flight.
  size_t in_flight = std::count_if(buckets_.begin(), buckets_.end(), [](const Bucket& x) { return x.pending != nullptr; });
  for (auto& other : buckets_) {
    if (in_flight <= kMaxInFlight) break;
    if (&other == &b || !other.pending) continue;
    other.pending->wait();
    other.pending.reset();
    --in_flight;
  }
}

// The end of one reduced backward: buckets that did not fill (a parameter outside this step's
// graph) go out with what they have, then every bucket's sum is waited for.
void ShardedAdamW::flush() {
  const auto t0 = std::chrono::steady_clock::now();
  for (auto& b : buckets_) {
    if (b.ready == int64_t(b.params.size())) continue;
    if (!b.grads.defined()) b.grads = torch::zeros({b.weights.numel()}, b.weights.options());
    // A parameter whose hook did not run this backward: under --shard optimizer its gradient is
    // what .grad holds from earlier micro-batches; under gradients those were reduced already.
    if (level_ == ShardLevel::Optimizer)
      for (size_t i = 0; i < b.params.size(); ++i) {
        const auto& p = params_[b.params[i]].second;
        if (!got_[b.params[i]] && p.grad().defined())
          b.grads.narrow(0, b.offsets[i], p.numel()).copy_(p.grad().reshape({-1}));
      }
    b.ready = int64_t(b.params.size());
    launch(b);
  }
  for (auto& b : buckets_)
    if (b.pending) {
      b.pending->wait();
      b.pending.reset();
    }
  if (level_ == ShardLevel::Gradients) release_grads();
  note_grad_bytes();
  active_ = false;
  dist_.add_comm_seconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

void ShardedAdamW::finish() {
  if (active_) flush();
}

void ShardedAdamW::release_grads() {
  for (auto& [name, p] : params_) p.mutable_grad().reset();
  hooked_.clear();
}

void ShardedAdamW::note_grad_bytes() {
  int64_t n = 0;
  for (const auto& [name, p] : params_) n += bytes_of(p.grad());
  for (const auto& b : buckets_) n += bytes_of(b.grads) + bytes_of(b.grad_slice) + (b.pending ? b.slice * 4 : 0);
  grad_bytes_peak_ = std::max(grad_bytes_peak_, n);
}

torch::Tensor ShardedAdamW::clip(double max_norm) {
  std::vector<torch::Tensor> squares;
  for (auto& b : buckets_) {
    squares.push_back(b.grad_slice.norm(2).pow(2).to(torch::kDouble));
  }
  auto total = torch::stack(squares).sum().reshape({1});
  dist_.all_reduce_sum({total});
  total = total.sqrt().to(torch::kFloat).reshape({});
  if (max_norm > 0) {
    auto coef = (max_norm / (total + 1e-6)).clamp_max(1.0);
    for (auto& b : buckets_) b.grad_slice.mul_(coef);
  }
  return total;
}

void ShardedAdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  steps_ += 1;
  const double b1 = o_.beta1, b2 = o_.beta2;
  const double bias1 = 1 - std::pow(b1, double(steps_)), bias2 = 1 - std::pow(b2, double(steps_));
  // torch's AdamW, element for element: decoupled decay, the moments, the bias-corrected update.
  for (auto& b : buckets_) {
    auto w = slice_of(b, b.weights);
    const auto& g = b.grad_slice;
    if (o_.weight_decay != 0)
      for (const auto& s : b.segments)
        if (params_[s.param].second.dim() >= 2) w.narrow(0, s.slice_begin, s.length).mul_(1 - lr * o_.weight_decay);
    b.exp_avg.mul_(b1).add_(g, 1 - b1);
    b.exp_avg_sq.mul_(b2).addcmul_(g, g, 1 - b2);
    auto denom = (b.exp_avg_sq.sqrt() / std::sqrt(bias2)).add_(o_.eps);
    w.addcdiv_(b.exp_avg, denom, -lr / bias1);
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<PendingCollective>> gathers;
  for (auto& b : buckets_) gathers.push_back(dist_.all_gather_in_place_async(b.weights));
  for (auto& g : gathers) g->wait();
  dist_.add_comm_seconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

void ShardedAdamW::zero_grad() {
  release_grads();
  for (auto& b : buckets_) b.grad_slice.zero_();
}

TrainMemory ShardedAdamW::memory() const {
  TrainMemory m;
  for (const auto& b : buckets_) {
    m.weights += bytes_of(b.weights);
    m.optimizer += bytes_of(b.exp_avg) + bytes_of(b.exp_avg_sq);
  }
  m.gradients_peak = grad_bytes_peak_;
  return m;
}

void ShardedAdamW::save_slices(const std::string& dir) const {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    tensors.emplace_back("exp_avg." + std::to_string(b), buckets_[b].exp_avg);
    tensors.emplace_back("exp_avg_sq." + std::to_string(b), buckets_[b].exp_avg_sq);
  }
  save_safetensors(rank_file(dir, dist_.rank()), tensors,
                   {{"rank", std::to_string(dist_.rank())}, {"world", std::to_string(dist_.world())}});
  if (dist_.rank() != 0) return;
  nlohmann::json buckets = nlohmann::json::array();
  for (const auto& b : buckets_) {
    nlohmann::json params = nlohmann::json::array();
    for (size_t i = 0; i < b.params.size(); ++i) {
      const auto& [name, p] = params_[b.params[i]];
      params.push_back({{"name", name}, {"offset", b.offsets[i]}, {"shape", p.sizes().vec()}});
    }
    buckets.push_back({{"elements", b.elements}, {"slice", b.slice}, {"params", params}});
  }
  const nlohmann::json manifest = {{"format", "rho sharded AdamW moments, one file of slices per rank"},
                                   {"world", dist_.world()},
                                   {"shard", level_ == ShardLevel::Gradients ? "gradients" : "optimizer"},
                                   {"step", steps_},
                                   {"buckets", buckets}};
  write_file_atomic(dir + "/manifest.json", manifest.dump(1) + "\n");
}

void ShardedAdamW::load_slices(const std::string& dir) {
  SlicedState saved(dir);
  saved.check_params(params_);
  for (auto& b : buckets_)
    for (const auto& s : b.segments) {
      auto [m, v] = saved.read(params_[s.param].first, s.param_begin, s.length);
      b.exp_avg.narrow(0, s.slice_begin, s.length).copy_(m);
      b.exp_avg_sq.narrow(0, s.slice_begin, s.length).copy_(v);
    }
  steps_ = saved.step();
}

void ShardedAdamW::load_from(torch::optim::AdamW& full) {
  int64_t step = -1;
  for (auto& b : buckets_)
    for (const auto& s : b.segments) {
      const auto& p = params_[s.param].second;
      auto it = full.state().find(compat::optimizer_state_key(p));
      if (it == full.state().end()) continue;  // never stepped: zero moments
      auto& st = static_cast<torch::optim::AdamWParamState&>(*it->second);
      if (step >= 0 && st.step() != step) fail("optimizer state: parameters at different AdamW steps cannot be sliced");
      step = st.step();
      b.exp_avg.narrow(0, s.slice_begin, s.length).copy_(st.exp_avg().reshape({-1}).narrow(0, s.param_begin, s.length));
      b.exp_avg_sq.narrow(0, s.slice_begin, s.length)
          .copy_(st.exp_avg_sq().reshape({-1}).narrow(0, s.param_begin, s.length));
    }
  // Every rank takes the same step (rank 0 owns a slice of the first bucket at least).
  auto t = torch::tensor({double(std::max<int64_t>(step, 0))}, torch::kDouble).to(dist_.device());
  dist_.broadcast({t}, 0);
  steps_ = int64_t(t.cpu().item<double>());
}

ShardedAdamW::NamedParams named_params(const torch::nn::Module& module) {
  ShardedAdamW::NamedParams out;
  for (const auto& p : module.named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

void load_sliced_into(const std::string& dir, const ShardedAdamW::NamedParams& params, torch::optim::AdamW& opt) {
  SlicedState saved(dir);
  saved.check_params(params);
  for (const auto& [name, p] : params) {
    auto [m, v] = saved.read(name, 0, p.numel());
    auto st = std::make_unique<torch::optim::AdamWParamState>();
    st->step(saved.step());
    st->exp_avg(m.view(p.sizes()).to(p.device()));
    st->exp_avg_sq(v.view(p.sizes()).to(p.device()));
    opt.state()[compat::optimizer_state_key(p)] = std::move(st);
  }
}

}  // namespace rho
