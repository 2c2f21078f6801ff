// Data parallelism on torch's own distributed engine (c10d): a process group made from the
// environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), Gloo on
// CPU and NCCL on CUDA, and the few collectives training needs.
//
// Gradients are summed, not averaged: every rank scales its loss as if it were the whole
// global batch's (1 / global token count for CLM, 1 / global k for SLM), so the sum over ranks
// is exactly the single-process gradient whatever the objective or selection scope.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace rho {

struct DistEnv {
  int rank = 0, world = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};
// Reads the torchrun variables; world 1 when WORLD_SIZE is unset. UserError on malformed values,
// and, when `rendezvous` (the ranks will connect), on a missing MASTER_PORT. `rho score` splits
// its work without connecting, so its ranks may also be independent jobs (RANK, WORLD_SIZE).
DistEnv dist_env_from_environment(bool rendezvous = true);

// A collective in flight: wait() returns once its result is in place.
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  virtual void wait() = 0;
};

class Distributed {
 public:
  virtual ~Distributed() = default;
  // Whether this build can make a CPU (Gloo) process group. PyTorch 2.x wheels ship Gloo's
  // c10d header but not gloo's own headers; such builds have NCCL (GPU) data parallelism only.
  static bool has_gloo();
  static bool has_nccl();
  // TCPStore rendezvous (rank 0 hosts it) and a process group for `device` (Gloo on CPU,
  // NCCL on CUDA when built with it). Blocks until every rank has joined.
  static std::unique_ptr<Distributed> connect(const DistEnv& env, torch::Device device);
  // In-process group for tests: ranks are threads sharing one HashStore created by make_store().
  static std::shared_ptr<void> make_test_store();
  static std::unique_ptr<Distributed> connect_in_process(const std::shared_ptr<void>& store, int rank,
                                                         int world);

  virtual int rank() const = 0;
  virtual int world() const = 0;
  // Where this group's collectives run: the CPU (Gloo) or this rank's GPU (NCCL).
  virtual torch::Device device() const = 0;

  // Sums every tensor across ranks in place. They are packed into one flat buffer per dtype
  // and device and reduced in buckets of at most `bucket_bytes`.
  virtual void all_reduce_sum(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes = 25 << 20) = 0;
  // Starts summing one contiguous tensor in place across ranks; the caller waits (every rank
  // must start the same collectives in the same order).
  virtual std::unique_ptr<PendingCollective> all_reduce_sum_async(const torch::Tensor& flat) = 0;
  // ZeRO's two collectives on a flat buffer of N equal chunks (N = world), chunk r being rank r's:
  // reduce_scatter_sum_async leaves the sum over ranks of chunk `rank()` in `out` once waited on
  // (`flat` itself is scratch afterwards); all_gather_in_place_async fills every other chunk of
  // `flat` with its owner's, this rank's chunk already in place. NCCL runs both natively. Gloo in
  // Debian's libtorch 1.13 has no reduce-scatter: it runs as one reduce per rank onto that rank
  // (the same sums, the same memory); collective_fallbacks() names what runs so, for the log.
  virtual std::unique_ptr<PendingCollective> reduce_scatter_sum_async(const torch::Tensor& flat,
                                                                      const torch::Tensor& out) = 0;
  virtual std::unique_ptr<PendingCollective> all_gather_in_place_async(const torch::Tensor& flat) = 0;
  virtual std::string collective_fallbacks() const = 0;
  // (world, ...) stacking every rank's `local` (same shape on every rank).
  virtual torch::Tensor all_gather(const torch::Tensor& local) = 0;
  // Overwrites `tensors` with rank `root`'s values.
  virtual void broadcast(const std::vector<torch::Tensor>& tensors, int root = 0) = 0;
  virtual void barrier() = 0;
  double sum_scalar(double x);

  // Seconds this rank spent waiting for collectives since construction: blocking ones whole,
  // overlapped ones only for what backward did not hide (the step-time breakdown).
  double comm_seconds() const { return comm_seconds_; }
  void add_comm_seconds(double s) { comm_seconds_ += s; }

 protected:
  double comm_seconds_ = 0;
};

}  // namespace rho
