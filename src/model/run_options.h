// How a command runs its models: the settings every command that loads or builds a model shares
// (--device, --precision, --threads, the LM head, --allow-unrecorded-tokenizer), described once
// (common/described.h). `rho train` describes them inside its own table; every other command
// adds the same flags through cli/flags.h.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "common/described.h"
#include "model/compute.h"
#include "model/fused_head.h"

namespace rho {

// Which of the shared settings a command uses: it offers only those, so no flag it takes is
// silently ignored.
struct RunSettingsUsed {
  bool head = true;              // computes token losses (not for generation)
  bool tokenizer_record = true;  // loads model directories (not for synthetic models)
};

struct RunOptions {
  std::string device = "auto", precision = "auto";  // model/compute.h
  int threads = 0;                                   // libtorch intra-op threads (0: library default)
  HeadOptions head;                                  // fused chunked LM head (default) or the plain path
  bool allow_unrecorded_tokenizer = false;           // model/model_use.h

  Compute compute() const { return resolve_compute(device, precision); }

  template <class V>
  void describe(V& v, RunSettingsUsed used = {});
};

template <class V>
void RunOptions::describe(V& v, RunSettingsUsed used) {
  using R = OnResume;
  v.text("--device", "device", device, false, R::MayChange, "auto (CUDA when present), cpu, cuda or cuda:N");
  v.choice("--precision", "precision", precision, {{"auto", "auto"}, {"fp32", "fp32"}, {"bf16", "bf16"}}, R::MayChange,
           "auto (bf16 on CUDA, fp32 on the CPU), fp32, or bf16 (model/compute.h)");
  if (used.head) {
    v.flag("--plain-head", "head_fused", head.fused, false, R::MayChange,
           "Plain LM head (full logits + cross-entropy) instead of the fused chunked one");
    v.integer("--head-chunk", "head_chunk", head.chunk_tokens, int64_t(0), int64_t(1) << 30, R::MayChange,
              "Fused head: tokens per logits chunk (0: about 8 MiB of logits)");
  }
  v.integer("--threads", nullptr, threads, 0, 1024, R::MayChange,
            "libtorch intra-op threads, and OpenBLAS's too where the command has no --blas-threads (0: library default)");
  if (used.tokenizer_record)
    v.flag("--allow-unrecorded-tokenizer", nullptr, allow_unrecorded_tokenizer, true, R::MayChange,
           "Use models that record no tokenizer (the check is skipped, with a warning)");
}

}  // namespace rho
