// `rho score`: run the reference model once over token shards and store every token's loss.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/compute.h"
#include "model/fused_head.h"
#include "scoring/score_file.h"

namespace rho {

struct ScoreOptions {
  std::string model;                // reference model directory
  std::vector<std::string> data;    // shard files or directories
  std::string out_dir;              // one .scores file per shard
  int64_t seq_len = 256;            // must equal the training seq_len (positions align)
  int64_t batch = 16;
  ScoreDtype dtype = ScoreDtype::F32;
  int64_t save_every = 1024;        // windows between progress saves (a killed run loses at most this)
  int rank = 0, world = 1;          // this process's share of the work (RANK, WORLD_SIZE)
  double progress_seconds = 2.0;
  bool allow_unrecorded_tokenizer = false;  // model/model_use.h
  // A reference with another tokenizer (scoring/cross_tokenizer.h): its directory carries its
  // tokenizer, and data_tokenizer is the shards' (to read their text back).
  bool cross_tokenizer = false;
  std::string data_tokenizer;
  Compute compute;                          // bf16: the reference runs as bf16 weights
  HeadOptions head;                         // fused chunked head (default) or the plain path
};

struct ScoreStats {
  int shards_scored = 0, shards_skipped = 0;
  int64_t tokens = 0;  // scored by this process
  double seconds = 0;
};

// The reference losses come from measure/token_losses.h, the path validation and `rho eval loss`
// use, B windows per forward pass, batch j of a shard being its windows [jB, jB + B).
//
// Work split: shard s's batches are cut into `world` contiguous ranges, rank r scoring range r.
// A rank writes its windows' losses, in order, to <score file>.r<r>of<world>.part and every
// `save_every` windows (at a batch boundary) makes them durable and records how many batches
// are done in <score file>.r<r>of<world>.progress (written atomically). A killed rank restarts
// at its last recorded batch, so it runs exactly the batches it would have run: the losses
// are the same bits. The rank that completes the last range of a shard assembles the score
// file (header, NaN where no window targets, the ranges in order), writes it atomically and
// removes the parts. No collective is needed: N processes, one process, a rerun with another
// process count, or ranks started at different times all leave the same bytes.
// Shards whose score file exists with the same header are skipped.
// With cross_tokenizer, each window's text is scored by the reference through its own tokenizer
// and the losses mapped back to the shard's tokens (scoring/cross_tokenizer.h); the score files
// record the reference's tokenizer, so training takes them only with --ref-tokenizer.
ScoreStats score_shards(const ScoreOptions& opts);

}  // namespace rho
