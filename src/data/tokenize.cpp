#include "data/tokenize.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "common/fileio.h"
#include "common/runtime.h"
#include "data/shard.h"
#include "tokenizer/tokenizer.h"

namespace rho {
namespace {

std::string shard_path(const TokenizeOptions& opts, int index) {
  char num[16];
  std::snprintf(num, sizeof num, "%06d", index);
  return (std::filesystem::path(opts.out_dir) / (opts.name + "_" + num + ".bin")).string();
}

std::string megabytes(double bytes) {
  char buf[32];
  if (bytes >= 1e9) std::snprintf(buf, sizeof buf, "%.2f GB", bytes / 1e9);
  else std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  return buf;
}

// A batch of documents on its way from the reader through an encoder to the shard writer.
struct Batch {
  uint64_t seq = 0;
  std::vector<RawDocument> raw;
  std::vector<int32_t> tokens;  // every document's ids, BOS and EOS included, back to back
  std::vector<size_t> ends;     // where each document's ids end in `tokens`
  std::exception_ptr error;         // the first document that failed (those before it are good)
  uint32_t error_file = 0;          // the file it came from
  std::exception_ptr reader_error;  // the reader failed after this batch's documents
  bool last = false;                // nothing follows
  uint64_t file_bytes = 0, data_bytes = 0;  // the reader's progress once this batch was read
};

// Reader thread -> encoder threads -> the calling thread, which takes batches back in reading
// order. At most `max_in_flight` batches exist at once, so memory does not grow with the corpus.
class Pipeline {
 public:
  Pipeline(DocumentReader& reader, const Tokenizer& tok, bool bos, int threads, size_t batch_bytes)
      : reader_(reader), tok_(tok), bos_(bos), batch_bytes_(batch_bytes), max_in_flight_(size_t(2 * threads + 2)) {
    reader_thread_ = std::thread([this] { read_loop(); });
    for (int i = 0; i < threads; ++i) encoders_.emplace_back([this] { encode_loop(); });
  }
  ~Pipeline() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    reader_thread_.join();
    for (auto& t : encoders_) t.join();
  }
  // The next batch in reading order (blocks).
  std::unique_ptr<Batch> next() {
    std::unique_lock<std::mutex> lock(m_);
    cv_.wait(lock, [&] { return done_.count(next_seq_) > 0; });
    auto b = std::move(done_[next_seq_]);
    done_.erase(next_seq_++);
    --in_flight_;
    cv_.notify_all();
    return b;
  }

 private:
  void read_loop() {
    for (uint64_t seq = 0;; ++seq) {
      {
        std::unique_lock<std::mutex> lock(m_);
        cv_.wait(lock, [&] { return stop_ || in_flight_ < max_in_flight_; });
        if (stop_) return;
        ++in_flight_;
      }
      auto b = std::make_unique<Batch>();
      b->seq = seq;
      try {
        b->last = !reader_.next(b->raw, batch_bytes_);
      } catch (...) {
        b->reader_error = std::current_exception();
        b->last = true;
      }
      b->file_bytes = reader_.file_bytes_read();
      b->data_bytes = reader_.data_bytes_read();
      const bool last = b->last;
      {
        std::lock_guard<std::mutex> lock(m_);
        todo_.push_back(std::move(b));
      }
      cv_.notify_all();
      if (last) return;
    }
  }

  void encode_loop() {
    for (;;) {
      std::unique_ptr<Batch> b;
      {
        std::unique_lock<std::mutex> lock(m_);
        cv_.wait(lock, [&] { return stop_ || !todo_.empty(); });
        if (stop_) return;
        b = std::move(todo_.front());
        todo_.pop_front();
      }
      encode(*b);
      {
        std::lock_guard<std::mutex> lock(m_);
        const uint64_t seq = b->seq;
        done_[seq] = std::move(b);
      }
      cv_.notify_all();
    }
  }

  void encode(Batch& b) const {
    std::string text;
    try {
      for (const auto& raw : b.raw) {
        b.error_file = raw.file;
        reader_.text(raw, text);
        if (bos_) b.tokens.push_back(tok_.bos_id());
        const auto ids = tok_.encode(text);
        b.tokens.insert(b.tokens.end(), ids.begin(), ids.end());
        b.tokens.push_back(tok_.eos_id());
        b.ends.push_back(b.tokens.size());
      }
    } catch (...) {
      b.error = std::current_exception();
    }
    b.raw.clear();
    b.raw.shrink_to_fit();
  }

  DocumentReader& reader_;
  const Tokenizer& tok_;
  const bool bos_;
  const size_t batch_bytes_, max_in_flight_;
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
  size_t in_flight_ = 0;
  uint64_t next_seq_ = 0;
  std::deque<std::unique_ptr<Batch>> todo_;
  std::map<uint64_t, std::unique_ptr<Batch>> done_;
  std::thread reader_thread_;
  std::vector<std::thread> encoders_;
};

// The tokenizer itself goes beside the shards, for the model directories trained on them
// (shard.h: tokenizer_copy_dir).
void leave_tokenizer_copy(const std::string& out_dir, const Tokenizer& tok) {
  const std::string copy = tokenizer_copy_dir(out_dir, tok.fingerprint());
  make_dirs(copy);
  tok.files().write_to(copy);
}

void print_summary(const TokenizeStats& stats, const std::string& out_dir, int threads) {
  std::fprintf(stderr,
               "tokenize: %llu documents, %llu tokens in %zu shard%s under %s; %s of text in %.2f s: %.2f MB/s, "
               "%.0f tokens/s (%d encoding thread%s)\n",
               (unsigned long long)stats.documents, (unsigned long long)stats.tokens, stats.shards.size(),
               stats.shards.size() == 1 ? "" : "s", out_dir.c_str(), megabytes(double(stats.text_bytes)).c_str(),
               stats.seconds, double(stats.text_bytes) / 1e6 / stats.seconds, double(stats.tokens) / stats.seconds,
               threads, threads == 1 ? "" : "s");
}

}  // namespace

TokenizeStats tokenize_to_shards(const TokenizeOptions& opts, const DocFormat& format) {
  if (opts.inputs.empty()) fail("tokenize needs at least one input file");
  if (opts.shard_tokens == 0) fail("shard_tokens must be positive");
  if (opts.threads < 0) fail("threads must be >= 0, got " + std::to_string(opts.threads));
  const int threads = opts.threads > 0 ? opts.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  const Tokenizer tok = Tokenizer::load(opts.tokenizer);
  if (tok.eos_id() < 0) fail_file(opts.tokenizer, "tokenizer has no EOS token to separate documents");
  if (opts.bos && tok.bos_id() < 0) fail_file(opts.tokenizer, "tokenizer has no BOS token");
  // Every input is found before minutes are spent on the first one.
  DocumentReader reader(list_inputs(opts.inputs), format);

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
  const uint32_t vocab = uint32_t(tok.vocab_size());
  try {
    Pipeline pipeline(reader, tok, opts.bos, threads, std::max<size_t>(1, opts.batch_bytes));
    for (;;) {
      const auto b = pipeline.next();
      size_t begin = 0;
      for (size_t end : b->ends) {
        if (!writer) {
          stats.shards.push_back(shard_path(opts, int(stats.shards.size())));
          writer = std::make_unique<ShardWriter>(stats.shards.back(), tok.fingerprint(), vocab, uint32_t(tok.eos_id()));
        }
        writer->append(b->tokens.data() + begin, end - begin);
        ++stats.documents;
        stats.tokens += end - begin;
        begin = end;
        // Documents never straddle shards: the shard closes after the one that crosses the limit.
        if (writer->size() >= opts.shard_tokens) {
          writer->finish();
          writer.reset();
        }
      }
      if (b->error) reader.rethrow_document_error(b->error_file, b->error);
      if (b->reader_error) std::rethrow_exception(b->reader_error);
      stats.text_bytes = b->data_bytes;
      if (b->last) break;
      if (seconds_since(last_report) >= opts.progress_seconds) {
        last_report = Clock::now();
        const double s = seconds_since(t0), frac = double(b->file_bytes) / double(std::max<uint64_t>(1, reader.file_bytes_total()));
        std::fprintf(stderr, "tokenize: %s of %s read (%.1f%%) | %.1f MB/s of text | %s tokens/s | %s tokens | ETA %s\n",
                     megabytes(double(b->file_bytes)).c_str(), megabytes(double(reader.file_bytes_total())).c_str(),
                     100 * frac, double(b->data_bytes) / 1e6 / s, format_count(double(stats.tokens) / s).c_str(),
                     format_count(double(stats.tokens)).c_str(),
                     frac > 0 ? format_duration(s * (1 - frac) / frac).c_str() : "?");
      }
    }
    if (writer) writer->finish();
  } catch (...) {
    // A failed run leaves no partial corpus behind (and nothing that blocks the rerun).
    writer.reset();
    for (const auto& path : stats.shards) std::remove(path.c_str());
    throw;
  }

  // Only once every shard is written: a failed run leaves nothing.
  leave_tokenizer_copy(opts.out_dir, tok);
  stats.seconds = std::max(seconds_since(t0), 1e-9);
  print_summary(stats, opts.out_dir, threads);
  return stats;
}

}  // namespace rho
