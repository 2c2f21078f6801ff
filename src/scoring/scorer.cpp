#include "scoring/scorer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fileio.h"
#include "common/runtime.h"
#include "measure/token_losses.h"
#include "model/model_use.h"
#include "scoring/cross_tokenizer.h"
#include "scoring/score_set.h"

namespace rho {
namespace {

using Clock = std::chrono::steady_clock;

// Batches [first, end) of a shard.
struct Range {
  int64_t first = 0, end = 0;
  int64_t size() const { return end - first; }
};
Range rank_range(int64_t n_batches, int rank, int world) {
  return {n_batches * rank / world, n_batches * (rank + 1) / world};
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// One shard as the scorer sees it: where its windows are and what its parts depend on.
struct ShardJob {
  std::string shard_path, out;  // the shard, its score file
  ScoreHeader header;
  int64_t first_window = 0, windows = 0, batches = 0;
  int64_t B = 0, T = 0;
  int world = 1;
  std::string compute;  // device type and precision: the same model gives other bits on another

  std::string part(int r) const { return out + ".r" + std::to_string(r) + "of" + std::to_string(world) + ".part"; }
  std::string progress(int r) const { return part(r).substr(0, part(r).size() - 5) + ".progress"; }
  // Windows of batches [b0, b1) (the shard's last batch may be short).
  int64_t windows_of(int64_t b0, int64_t b1) const { return std::min(b1 * B, windows) - std::min(b0 * B, windows); }
  uint64_t window_bytes() const { return uint64_t(T) * score_dtype_bytes(header.dtype); }

  // Everything a part's bytes depend on: a progress record that differs in any is not ours.
  nlohmann::json identity(int r) const {
    const Range range = rank_range(batches, r, world);
    nlohmann::json id = {{"shard_fingerprint", hex64(header.shard_fingerprint)},
                         {"model_fingerprint", hex64(header.model_fingerprint)},
                         {"n_scores", header.n_scores}, {"seq_len", T}, {"batch", B}, {"dtype", to_string(header.dtype)},
                         {"compute", compute}, {"rank", r}, {"world", world}, {"first_batch", range.first},
                         {"batches", range.size()}};
    // Only when set, so progress records of same-tokenizer runs read as before.
    if (header.ref_tokenizer_fingerprint != 0) id["ref_tokenizer_fingerprint"] = hex64(header.ref_tokenizer_fingerprint);
    return id;
  }
  // Batches of rank r's range recorded as durable; 0 when there is no record of this job.
  int64_t batches_done(int r) const {
    const std::string path = progress(r);
    if (!file_exists(path)) return 0;
    try {
      const auto j = nlohmann::json::parse(read_file(path));
      nlohmann::json id = j;
      id.erase("batches_done");
      if (id != identity(r)) return 0;  // another model, dtype, batch or split: start over
      const int64_t done = j.at("batches_done").get<int64_t>();
      return done >= 0 && done <= rank_range(batches, r, world).size() ? done : 0;
    } catch (const std::exception&) {
      return 0;  // unreadable: start over
    }
  }
  void save_progress(int r, int64_t done) const {
    auto j = identity(r);
    j["batches_done"] = done;
    write_file_atomic(progress(r), j.dump() + "\n");
  }
};

bool finished(const ShardJob& job) {
  if (!file_exists(job.out)) return false;
  try {
    return ScoreFile::open(job.out)->header().same_content(job.header);
  } catch (const UserError&) {
    return false;  // damaged or foreign: scored again and replaced
  }
}

// Parts and progress records of this shard's score file, of any process count.
void remove_parts(const ShardJob& job) {
  namespace fs = std::filesystem;
  const fs::path out(job.out);
  const std::string prefix = out.filename().string() + ".r";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(out.parent_path(), ec)) {
    const std::string name = e.path().filename().string();
    auto ends_with = [&](const std::string& suffix) {
      return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (name.rfind(prefix, 0) == 0 && (ends_with(".part") || ends_with(".progress")))
      remove_file_if_exists(e.path().string());
  }
}

void write_all(int fd, const unsigned char* data, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail_file(path, errno_text("write failed"));
    }
    data += w;
    n -= size_t(w);
  }
}

void sync_fd(int fd, const std::string& path) {
  if (::fdatasync(fd) != 0) fail_file(path, errno_text("write failed"));
}

class Scorer {
 public:
  // `aligner`: null for a reference that reads the shards' own tokens.
  Scorer(const ScoreOptions& o, LlamaForCausalLM& model, const PackedDataset& data, const ByteAligner* aligner,
         const MeasureOptions& eval, ScoreStats& stats)
      : o_(o), model_(model), data_(data), aligner_(aligner), stats_(stats), eval_(eval), t0_(Clock::now()),
        last_print_(t0_) {}

  // Rank r's range of the shard, from where its progress record says, into its part.
  void score_range(const ShardJob& job) {
    const int r = o_.rank;
    const Range range = rank_range(job.batches, r, job.world);
    if (range.size() == 0) return;
    const std::string part = job.part(r);
    int64_t done = job.batches_done(r);
    uint64_t keep = uint64_t(job.windows_of(range.first, range.first + done)) * job.window_bytes();
    struct stat st;
    if (done > 0 && (::stat(part.c_str(), &st) != 0 || uint64_t(st.st_size) < keep)) {
      std::fprintf(stderr, "score: %s is shorter than its progress record; scoring its range again\n", part.c_str());
      done = 0;
      keep = 0;
    }
    if (done == range.size()) return;
    const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fail_file(part, errno_text("cannot create"));
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    // Two runs writing one part would interleave their windows.
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0)
      fail_file(part, "another rho score is writing this part (one run per --out directory at a time)");
    // Windows past the last record were not made durable: they are scored again.
    if (::ftruncate(fd, off_t(keep)) != 0 || ::lseek(fd, 0, SEEK_END) < 0) fail_file(part, errno_text("cannot truncate"));
    if (done > 0)
      std::fprintf(stderr, "score: %s rank %d/%d: resuming at batch %lld of %lld\n", job.shard_path.c_str(), r,
                   job.world, (long long)done, (long long)range.size());

    const int64_t first = job.first_window + std::min((range.first + done) * job.B, job.windows);
    const int64_t count = job.windows_of(range.first + done, range.end);
    const int64_t end_window = first + count;
    std::vector<unsigned char> buf;
    int64_t since_save = 0;
    auto sink = [&](int64_t w, const float* losses) {
      const size_t at = buf.size();
      buf.resize(at + job.window_bytes());
      encode_scores(job.header.dtype, losses, size_t(job.T), buf.data() + at);
      stats_.tokens += job.T;
      ++since_save;
      const int64_t local = w - job.first_window;
      if ((local + 1) % job.B != 0 && w + 1 != end_window) return;  // mid-batch
      write_all(fd, buf.data(), buf.size(), part);
      buf.clear();
      ++done;
      if (since_save >= o_.save_every || done == range.size()) {
        sync_fd(fd, part);  // the windows first, then the record that claims them
        job.save_progress(r, done);
        since_save = 0;
      }
      report(job, local + 1);
    };
    if (aligner_) cross_window_losses(model_, data_, *aligner_, first, count, eval_, sink);
    else window_losses(model_, data_, first, count, eval_, sink);
  }

  // Writes the score file when every rank's range is complete. True when it is on disk.
  bool assemble(const ShardJob& job) {
    std::vector<int> ranks;
    for (int r = 0; r < job.world; ++r) {
      const Range range = rank_range(job.batches, r, job.world);
      if (range.size() == 0) continue;
      if (job.batches_done(r) != range.size()) return false;  // another rank is still at work
      ranks.push_back(r);
    }
    try {
      unsigned char header[kScoreHeaderBytes], nan[4];
      encode_score_header(job.header, header);
      const float not_scored = std::nanf("");
      encode_scores(job.header.dtype, &not_scored, 1, nan);
      const size_t width = score_dtype_bytes(job.header.dtype);
      write_file_atomic(job.out, [&](std::FILE* f) {
        fwrite_checked(f, header, sizeof header, job.out);
        // Position 0, then windows 0 .. W-1 (positions 1 .. W*T) from the parts in rank order,
        // then the tail that no window targets.
        auto put_nan = [&](uint64_t n) {
          for (uint64_t i = 0; i < n; ++i) fwrite_checked(f, nan, width, job.out);
        };
        if (job.header.n_scores == 0) return;
        put_nan(1);
        std::vector<char> chunk(1 << 20);
        for (int r : ranks) {
          const Range range = rank_range(job.batches, r, job.world);
          const uint64_t expect = uint64_t(job.windows_of(range.first, range.end)) * job.window_bytes();
          const std::string part = job.part(r);
          std::FILE* in = std::fopen(part.c_str(), "rb");
          if (!in) fail_file(part, errno_text("cannot open"));
          uint64_t copied = 0;
          for (size_t n; (n = std::fread(chunk.data(), 1, chunk.size(), in)) > 0; copied += n)
            fwrite_checked(f, chunk.data(), n, job.out);
          std::fclose(in);
          if (copied != expect)
            fail_file(part, "holds " + std::to_string(copied) + " bytes, its range needs " + std::to_string(expect));
        }
        put_nan(job.header.n_scores - 1 - uint64_t(job.windows) * uint64_t(job.T));
      });
    } catch (const UserError&) {
      // Another rank may have assembled it and removed the parts while this one read them.
      if (finished(job)) return true;
      throw;
    }
    remove_parts(job);
    return true;
  }

 private:
  void report(const ShardJob& job, int64_t window_in_shard) {
    const auto now = Clock::now();
    if (std::chrono::duration<double>(now - last_print_).count() < o_.progress_seconds) return;
    last_print_ = now;
    const double s = std::chrono::duration<double>(now - t0_).count();
    std::fprintf(stderr, "score: %s%s %lld/%lld windows | %s tok/s\n", job.shard_path.c_str(),
                 job.world > 1 ? (" rank " + std::to_string(o_.rank) + "/" + std::to_string(job.world)).c_str() : "",
                 (long long)window_in_shard, (long long)job.windows, format_count(double(stats_.tokens) / s).c_str());
  }

  const ScoreOptions& o_;
  LlamaForCausalLM& model_;
  const PackedDataset& data_;
  const ByteAligner* aligner_;
  ScoreStats& stats_;
  MeasureOptions eval_;
  Clock::time_point t0_, last_print_;
};

// --cross-tokenizer's two tokenizers, checked: the shards' (given) and the reference's (its
// directory's), and the aligner between them.
struct CrossTokenizers {
  Tokenizer data, ref;
  ByteAligner aligner;
  CrossTokenizers(const ScoreOptions& o, const PackedDataset& shards)
      : data(shards_tokenizer(o.data_tokenizer, shards)), ref(reference_tokenizer(o.model)), aligner(data, ref) {}
  CrossTokenizers(const CrossTokenizers&) = delete;  // the aligner holds references to both

  static Tokenizer shards_tokenizer(const std::string& path, const PackedDataset& shards) {
    Tokenizer t = Tokenizer::load(path);
    if (t.fingerprint() != shards.tokenizer_fingerprint())
      fail_file(path, "is not the shards' tokenizer (fingerprint " + hex64(t.fingerprint()) + ", the shards record " +
                          hex64(shards.tokenizer_fingerprint()) + ")");
    return t;
  }
  static Tokenizer reference_tokenizer(const std::string& model_dir) {
    if (tokenizer_file_in(model_dir).empty())
      fail_file(model_dir, "carries no tokenizer (tokenizer.json or tokenizer.model); --cross-tokenizer encodes the "
                           "text with the reference's own tokenizer");
    return Tokenizer::load(model_dir);
  }
};

}  // namespace

ScoreStats score_shards(const ScoreOptions& opts) {
  if (opts.cross_tokenizer && opts.data_tokenizer.empty())
    fail("--cross-tokenizer needs --data-tokenizer: the shards' tokenizer, to read their text");
  if (!opts.cross_tokenizer && !opts.data_tokenizer.empty())
    fail("--data-tokenizer applies with --cross-tokenizer only (a reference with another tokenizer)");
  if (opts.seq_len < 1) fail("--seq-len must be >= 1");
  if (opts.batch < 1) fail("--batch must be >= 1");
  if (opts.save_every < 1) fail("--save-every must be >= 1");
  if (opts.world < 1 || opts.rank < 0 || opts.rank >= opts.world)
    fail("rank " + std::to_string(opts.rank) + " is outside world size " + std::to_string(opts.world));
  const std::vector<std::string> files = list_shards(opts.data);
  // Every shard must come from one tokenizer (PackedDataset refuses a mix), the model's unless
  // --cross-tokenizer names both (then the model's is its directory's own). Shards
  // shorter than T+1 have no windows (data/loader.h) but still get their score file.
  const PackedDataset data(files, opts.seq_len);
  std::optional<CrossTokenizers> cross;
  if (opts.cross_tokenizer) cross.emplace(opts, data);
  const TokenizerId model_tokenizer = cross ? cross->ref.id() : data.tokenizer();
  auto model = load_model_for(opts.model, {"reference model", model_tokenizer, opts.seq_len, opts.allow_unrecorded_tokenizer});
  model->eval();
  const uint64_t model_fp = model_fingerprint(model);  // of the weights as saved, whatever the precision
  prepare_for_inference(*model, opts.compute);
  MeasureOptions eval;
  eval.batch = opts.batch;
  eval.compute = opts.compute;
  eval.head = opts.head;
  make_dirs(opts.out_dir);
  if (opts.rank == 0) remove_stale_temps(opts.out_dir);  // score files whose writer was killed

  ScoreStats stats;
  const auto t0 = Clock::now();
  Scorer scorer(opts, model, data, cross ? &cross->aligner : nullptr, eval, stats);
  for (size_t s = 0; s < files.size(); ++s) {
    const Shard& shard = *data.shards()[s];
    ShardJob job;
    job.shard_path = files[s];
    job.out = score_path_for(opts.out_dir, files[s]);
    job.header.dtype = opts.dtype;
    job.header.n_scores = shard.size();
    job.header.shard_fingerprint = shard.content_fingerprint();
    job.header.model_fingerprint = model_fp;
    job.header.seq_len = uint32_t(opts.seq_len);
    job.header.ref_tokenizer_fingerprint = cross ? cross->ref.fingerprint() : 0;
    job.first_window = data.first_window(s);
    job.windows = data.first_window(s + 1) - job.first_window;
    job.B = opts.batch;
    job.T = opts.seq_len;
    job.batches = (job.windows + job.B - 1) / job.B;
    job.world = opts.world;
    job.compute = std::string(opts.compute.device.is_cuda() ? "cuda" : "cpu") + (opts.compute.bf16() ? " bf16" : " fp32");
    if (finished(job)) {
      ++stats.shards_skipped;
      std::fprintf(stderr, "score: %s done already, skipped\n", job.out.c_str());
      remove_parts(job);  // left by a run killed between writing the file and removing them
      continue;
    }
    if (job.windows == 0)
      std::fprintf(stderr, "score: %s has %llu tokens, fewer than seq_len + 1: no window, every position not scored\n",
                   files[s].c_str(), (unsigned long long)shard.size());
    scorer.score_range(job);
    if (scorer.assemble(job)) ++stats.shards_scored;
  }
  stats.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::fprintf(stderr, "score: %d shards scored, %d skipped, %s tokens in %s (%s tok/s)%s\n", stats.shards_scored,
               stats.shards_skipped, format_count(double(stats.tokens)).c_str(), format_duration(stats.seconds).c_str(),
               format_count(stats.tokens / std::max(stats.seconds, 1e-9)).c_str(),
               opts.world > 1 ? (" [rank " + std::to_string(opts.rank) + "/" + std::to_string(opts.world) + "]").c_str() : "");
  return stats;
}

}  // namespace rho
