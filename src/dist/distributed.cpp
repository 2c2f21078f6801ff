// c10d headers first: the compatibility header's c10d section needs them.
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#ifdef RHO_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef RHO_WITH_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#define RHO_C10D_INCLUDED
#include "common/torch_compat.h"

#include "dist/distributed.h"

#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>

#include "common/error.h"

namespace rho {

namespace {

int env_int(const char* name, int fallback, int lo, int hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < lo || x > hi)
    fail(std::string("environment variable ") + name + "='" + v + "' must be an integer in [" +
         std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return int(x);
}

using Clock = std::chrono::steady_clock;

class WorkWait : public PendingCollective {
 public:
  explicit WorkWait(c10::intrusive_ptr<c10d::Work> work) : work_(std::move(work)) {}
  void wait() override { work_->wait(); }

 private:
  c10::intrusive_ptr<c10d::Work> work_;
};

// Several collectives waited on together, then `done` (a copy out of a scratch buffer).
class WaitAll : public PendingCollective {
 public:
  WaitAll(std::vector<c10::intrusive_ptr<c10d::Work>> works, std::function<void()> done)
      : works_(std::move(works)), done_(std::move(done)) {}
  void wait() override {
    for (auto& w : works_) w->wait();
    if (done_) done_();
  }

 private:
  std::vector<c10::intrusive_ptr<c10d::Work>> works_;
  std::function<void()> done_;
};

class ProcessGroupRunner : public Distributed {
 public:
  ProcessGroupRunner(c10::intrusive_ptr<compat::CommBackend> pg, int rank, int world, torch::Device device)
      : pg_(std::move(pg)), rank_(rank), world_(world), device_(device) {}
  int rank() const override { return rank_; }
  int world() const override { return world_; }
  torch::Device device() const override { return device_; }

  std::unique_ptr<PendingCollective> all_reduce_sum_async(const torch::Tensor& flat) override {
    std::vector<at::Tensor> one{flat};
    return std::make_unique<WorkWait>(pg_->allreduce(one));
  }

  std::unique_ptr<PendingCollective> reduce_scatter_sum_async(const torch::Tensor& flat,
                                                              const torch::Tensor& out) override {
    const int64_t S = out.numel();
    if (flat.numel() != S * world_) fail("internal: reduce-scatter of a buffer that is not world x chunk");
    if (device_.is_cuda()) {
      at::Tensor o = out, in = flat;
      return std::make_unique<WaitAll>(std::vector{pg_->_reduce_scatter_base(o, in)}, nullptr);
    }
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (int r = 0; r < world_; ++r) {
      c10d::ReduceOptions opts;
      opts.rootRank = r;
      std::vector<at::Tensor> chunk{flat.narrow(0, r * S, S)};
      works.push_back(pg_->reduce(chunk, opts));
    }
    auto mine = flat.narrow(0, int64_t(rank_) * S, S);
    return std::make_unique<WaitAll>(std::move(works), [mine, out]() mutable { out.copy_(mine); });
  }

  std::unique_ptr<PendingCollective> all_gather_in_place_async(const torch::Tensor& flat) override {
    const int64_t S = flat.numel() / world_;
    at::Tensor mine = flat.narrow(0, int64_t(rank_) * S, S), all = flat;
    if (device_.is_cuda()) return std::make_unique<WaitAll>(std::vector{pg_->_allgather_base(all, mine)}, nullptr);
    // Gloo gathers into a buffer of its own and then copies each chunk out, so the input may be
    // a view of the output.
    std::vector<at::Tensor> chunks;
    for (int r = 0; r < world_; ++r) chunks.push_back(flat.narrow(0, r * S, S));
    std::vector<std::vector<at::Tensor>> outs{chunks};
    std::vector<at::Tensor> ins{mine};
    return std::make_unique<WaitAll>(std::vector{pg_->allgather(outs, ins)}, nullptr);
  }

  std::string collective_fallbacks() const override {
    return device_.is_cuda() ? "" : "reduce-scatter as one reduce per rank (Gloo has none)";
  }

  void all_reduce_sum(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) override {
    // Group by (dtype, device): one flat buffer each, reduced bucket by bucket so a huge model
    // never needs a second full-size copy in flight.
    std::map<std::string, std::vector<torch::Tensor>> groups;
    for (const auto& t : tensors)
      if (t.defined()) groups[std::string(c10::toString(t.scalar_type())) + t.device().str()].push_back(t);
    const auto t0 = Clock::now();
    for (auto& [key, ts] : groups) {
      std::vector<torch::Tensor> flat_parts;
      for (auto& t : ts) flat_parts.push_back(t.reshape({-1}));
      auto flat = torch::cat(flat_parts);  // (P,)
      const int64_t per_bucket = std::max<int64_t>(1, bucket_bytes / int64_t(flat.element_size()));
      for (int64_t begin = 0; begin < flat.numel(); begin += per_bucket) {
        std::vector<at::Tensor> bucket{flat.narrow(0, begin, std::min(per_bucket, flat.numel() - begin))};
        pg_->allreduce(bucket)->wait();
      }
      int64_t offset = 0;
      for (auto& t : ts) {
        t.copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
        offset += t.numel();
      }
    }
    comm_seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
  }

  torch::Tensor all_gather(const torch::Tensor& local) override {
    const auto t0 = Clock::now();
    auto in = local.contiguous();
    std::vector<at::Tensor> outs;
    for (int r = 0; r < world_; ++r) outs.push_back(torch::empty_like(in));
    std::vector<std::vector<at::Tensor>> out_lists{outs};
    std::vector<at::Tensor> ins{in};
    pg_->allgather(out_lists, ins)->wait();
    comm_seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
    return torch::stack(out_lists[0]);
  }

  void broadcast(const std::vector<torch::Tensor>& tensors, int root) override {
    const auto t0 = Clock::now();
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    for (const auto& t : tensors) {
      std::vector<at::Tensor> one{t};
      pg_->broadcast(one, opts)->wait();
    }
    comm_seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
  }

  void barrier() override { pg_->barrier()->wait(); }

 private:
  c10::intrusive_ptr<compat::CommBackend> pg_;
  int rank_, world_;
  torch::Device device_;
};

c10::intrusive_ptr<compat::CommBackend> gloo_group(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                   int world, const std::string& host) {
#ifndef RHO_WITH_GLOO
  fail("this rho was built without Gloo (no gloo headers found): data-parallel training on CPU is unavailable");
#else
  auto opts = c10d::ProcessGroupGloo::Options::create(std::chrono::minutes(30));
  opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
  opts->threads = 1;
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, opts);
#endif
}

}  // namespace

DistEnv dist_env_from_environment(bool rendezvous) {
  DistEnv e;
  e.world = env_int("WORLD_SIZE", 1, 1, 1 << 20);
  e.rank = env_int("RANK", 0, 0, e.world - 1);
  e.local_rank = env_int("LOCAL_RANK", e.rank, 0, 1 << 20);
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) e.master_addr = a;
  e.master_port = env_int("MASTER_PORT", 29500, 1, 65535);
  if (rendezvous && e.world > 1 && !std::getenv("MASTER_PORT"))
    fail("WORLD_SIZE is " + std::to_string(e.world) + " but MASTER_PORT is not set (launch with `rho launch` or torchrun)");
  return e;
}

bool Distributed::has_gloo() {
#ifdef RHO_WITH_GLOO
  return true;
#else
  return false;
#endif
}

bool Distributed::has_nccl() {
#ifdef RHO_WITH_NCCL
  return true;
#else
  return false;
#endif
}

double Distributed::sum_scalar(double x) {
  auto t = torch::tensor({x}, torch::kDouble).to(device());  // NCCL reduces device tensors only
  all_reduce_sum({t});
  return t.item<double>();
}

std::unique_ptr<Distributed> Distributed::connect(const DistEnv& env, torch::Device device) {
  c10d::TCPStoreOptions so;
  so.port = uint16_t(env.master_port);
  so.isServer = env.rank == 0;
  so.numWorkers = size_t(env.world);
  so.waitWorkers = true;
  so.timeout = std::chrono::minutes(5);
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
  } catch (const std::exception& e) {
    fail("rank " + std::to_string(env.rank) + ": cannot reach the rendezvous at " + env.master_addr + ":" +
         std::to_string(env.master_port) + ": " + std::string(e.what()).substr(0, 200));
  }
  if (device.is_cuda()) {
#ifdef RHO_WITH_NCCL
    c10::cuda::set_device(device.index());  // NCCL's communicator binds to the current device
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world, opts);
    return std::make_unique<ProcessGroupRunner>(pg, env.rank, env.world, device);
#else
    fail("this rho was built without NCCL; data-parallel training on CUDA needs a libtorch with CUDA");
#endif
  }
  // Gloo binds to the address the ranks rendezvous on (loopback for one machine).
  return std::make_unique<ProcessGroupRunner>(gloo_group(store, env.rank, env.world, env.master_addr), env.rank,
                                              env.world, torch::kCPU);
}

std::shared_ptr<void> Distributed::make_test_store() {
  // The intrusive_ptr is kept alive by a shared_ptr holder so the header needs no c10d types.
  auto holder = std::make_shared<c10::intrusive_ptr<c10d::Store>>(c10::make_intrusive<c10d::HashStore>());
  return std::static_pointer_cast<void>(holder);
}

std::unique_ptr<Distributed> Distributed::connect_in_process(const std::shared_ptr<void>& store, int rank,
                                                             int world) {
  auto& s = *static_cast<c10::intrusive_ptr<c10d::Store>*>(store.get());
  return std::make_unique<ProcessGroupRunner>(gloo_group(s, rank, world, "127.0.0.1"), rank, world, torch::kCPU);
}

}  // namespace rho
