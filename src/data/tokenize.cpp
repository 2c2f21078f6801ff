#include "data/tokenize.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "common/error.h"
#include "common/fileio.h"
#include "data/shard.h"
#include "tokenizer/tokenizer.h"

namespace rho {
namespace {

std::string shard_path(const TokenizeOptions& opts, int index) {
  char num[16];
  std::snprintf(num, sizeof num, "%06d", index);
  return (std::filesystem::path(opts.out_dir) / (opts.name + "_" + num + ".bin")).string();
}

}  // namespace

TokenizeStats tokenize_to_shards(const TokenizeOptions& opts, const DocFormat& format) {
  if (opts.inputs.empty()) fail("tokenize needs at least one input file");
  if (opts.shard_tokens == 0) fail("shard_tokens must be positive");
  const Tokenizer tok = Tokenizer::load(opts.tokenizer);
  if (tok.eos_id() < 0) fail_file(opts.tokenizer, "tokenizer has no EOS token to separate documents");
  if (opts.bos && tok.bos_id() < 0) fail_file(opts.tokenizer, "tokenizer has no BOS token");
  // Check every input exists before spending minutes on the first one.
  for (const auto& input : opts.inputs)
    if (!std::filesystem::is_regular_file(input)) fail_file(input, "no such input file");

  make_dirs(opts.out_dir);
  // Shards from an earlier run would silently join this corpus when the directory is read back.
  if (file_exists(shard_path(opts, 0)))
    fail_file(shard_path(opts, 0), "already exists; remove the old shards or choose another --out-dir/--name");

  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto last_report = t0;
  auto seconds_since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };

  TokenizeStats stats;
  std::unique_ptr<ShardWriter> writer;
  std::vector<int32_t> ids;
  const uint32_t vocab = uint32_t(tok.vocab_size());
  try {
    for (const auto& input : opts.inputs) {
      for_each_document(input, format, [&](const std::string& doc) {
        ids.clear();
        if (opts.bos) ids.push_back(tok.bos_id());
        const auto body = tok.encode(doc);
        ids.insert(ids.end(), body.begin(), body.end());
        ids.push_back(tok.eos_id());

        if (!writer) {
          stats.shards.push_back(shard_path(opts, int(stats.shards.size())));
          writer = std::make_unique<ShardWriter>(stats.shards.back(), tok.fingerprint(), vocab, uint32_t(tok.eos_id()));
        }
        writer->append(ids.data(), ids.size());
        ++stats.documents;
        stats.tokens += ids.size();
        // Documents never straddle shards: the shard closes after the one that crosses the limit.
        if (writer->size() >= opts.shard_tokens) {
          writer->finish();
          writer.reset();
        }
        if (seconds_since(last_report) >= 2.0) {
          last_report = Clock::now();
          std::fprintf(stderr, "tokenize: %s: %llu documents, %llu tokens, %.0f tokens/s\n", input.c_str(),
                       (unsigned long long)stats.documents, (unsigned long long)stats.tokens,
                       stats.tokens / seconds_since(t0));
        }
      });
    }
    if (writer) writer->finish();
  } catch (...) {
    // A failed run leaves no partial corpus behind (and nothing that blocks the rerun).
    writer.reset();
    for (const auto& path : stats.shards) std::remove(path.c_str());
    throw;
  }

  const double secs = std::max(seconds_since(t0), 1e-9);
  std::fprintf(stderr, "tokenize: %llu documents, %llu tokens in %zu shard%s under %s, %.0f tokens/s\n",
               (unsigned long long)stats.documents, (unsigned long long)stats.tokens, stats.shards.size(),
               stats.shards.size() == 1 ? "" : "s", opts.out_dir.c_str(), stats.tokens / secs);
  return stats;
}

}  // namespace rho
