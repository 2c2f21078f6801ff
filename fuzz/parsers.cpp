// Fuzz target bodies for the parsers that need no libtorch (targets.h).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>

#include "common/error.h"
#include "common/fileio.h"
#include "data/documents.h"
#include "data/shard.h"
#include "fuzz/targets.h"
#include "model/config.h"
#include "cli/id_matrix.h"
#include "scoring/score_file.h"
#include "tokenizer/tokenizer.h"
#include "train/trainer_state.h"

namespace rho::fuzz {
namespace {

// A scratch file per process for the readers that take a path (they stream or mmap).
std::string scratch(const std::string& name, const uint8_t* data, size_t size) {
  struct Dir {
    std::string path = std::filesystem::temp_directory_path().string() + "/rho-fuzz-" + std::to_string(::getpid());
    Dir() { std::filesystem::create_directories(path); }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir scratch_dir;
  const std::string& dir = scratch_dir.path;
  const std::string path = dir + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::fprintf(stderr, "fuzz: cannot write scratch file %s\n", path.c_str());
    std::abort();
  }
  return path;
}

[[noreturn]] void bug(const char* what) {
  std::fprintf(stderr, "fuzz: %s\n", what);
  std::abort();
}

}  // namespace

void shard(const uint8_t* data, size_t size) {
  std::shared_ptr<Shard> s;
  try {
    s = Shard::open(scratch("x.bin", data, size));
  } catch (const UserError&) {
    return;
  }
  // Accepted (header only, versions 1 and 2): the fingerprint must be computable, and reading
  // the tokens, in pieces as windows do, either hands out ids inside the vocabulary or refuses.
  s->content_fingerprint();
  std::vector<int64_t> ids(64);
  for (uint64_t at = 0; at < s->size(); at += ids.size()) {
    const uint64_t n = std::min<uint64_t>(ids.size(), s->size() - at);
    try {
      s->read(at, n, ids.data());
    } catch (const UserError&) {
      continue;
    }
    for (uint64_t i = 0; i < n; ++i)
      if (ids[i] < 0 || uint64_t(ids[i]) >= s->header().vocab_size) bug("shard read() handed out a token outside the vocabulary");
  }
  try {
    s->read(s->size(), 1, ids.data());
    bug("shard read() past the end was accepted");
  } catch (const UserError&) {
  }
}

void score_file(const uint8_t* data, size_t size) {
  // Score files are memory-mapped like shards: the reader under test takes a path.
  std::shared_ptr<const ScoreFile> f;
  try {
    f = ScoreFile::open(scratch("x.scores", data, size));
  } catch (const UserError&) {
    return;
  }
  const auto all = f->read_all();  // every value of an accepted file is readable, any dtype
  if (all.size() != f->header().n_scores) bug("score count differs from the header");
  if (score_file_bytes(f->header()) != size) bug("accepted a score file whose size differs from its header's");
  try {
    float x;
    f->read(f->size(), 1, &x);
    bug("score read() past the end was accepted");
  } catch (const UserError&) {
  }
}

void checkpoint(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const TrainerState s = parse_trainer_state(text, "trainer_state.json");
    const TrainerState t = parse_trainer_state(trainer_state_json(s), "round trip");
    if (s.step != t.step || s.data_cursor != t.data_cursor || s.tokens_seen != t.tokens_seen ||
        s.tokens_trained != t.tokens_trained || s.bad_steps != t.bad_steps || s.run != t.run)
      bug("trainer_state.json does not survive a round trip");
  } catch (const UserError&) {
  }
  try {
    parse_latest_pointer(text, "latest");
  } catch (const UserError&) {
  }
}

void config(const uint8_t* data, size_t size) {
  try {
    const LlamaConfig c = parse_config(std::string(reinterpret_cast<const char*>(data), size), "config.json");
    if (to_json(config_from_json(to_json(c), "round trip")) != to_json(c)) bug("config does not survive a round trip");
    // What every command does next with a config: size the model.
    if (c.num_params() <= 0 || c.num_matmul_params() <= 0) bug("accepted config has no parameters");
  } catch (const UserError&) {
  }
}

void input_ids(const uint8_t* data, size_t size) {
  try {
    const IdMatrix m = parse_id_matrix(std::string(reinterpret_cast<const char*>(data), size), "ids.json", 300);
    if (m.rows <= 0 || m.cols <= 0 || int64_t(m.ids.size()) != m.rows * m.cols) bug("id matrix shape disagrees");
    for (int64_t id : m.ids)
      if (id < 0 || id >= 300) bug("accepted id outside the vocabulary");
  } catch (const UserError&) {
  }
}

void documents(const uint8_t* data, size_t size) {
  // The first byte picks the reader and its options; the rest is the file.
  if (size == 0) return;
  const uint8_t mode = data[0];
  DocFormat fmt;
  if (mode & 1) fmt.fields = {"text", "title"};
  if (mode & 2) fmt.template_ = "Q: {question}\nA: {answer} {x}";
  fmt.split_blank_lines = mode & 4;
  const bool jsonl = !(mode & 8);
  // Bits 5 and 6 hand the bytes to the gzip or zstd decoder (data/input_stream.h) first.
  const char* packed = mode & 32 ? ".gz" : mode & 64 ? ".zst" : "";
  const std::string path = scratch(std::string(jsonl ? "x.jsonl" : "x.txt") + packed, data + 1, size - 1);
  try {
    size_t bytes = 0;
    for_each_document(path, fmt, [&](const std::string& doc) { bytes += doc.size(); });
  } catch (const UserError&) {
  }
  if (jsonl) {
    try {
      read_jsonl_field(path, mode & 16 ? "question" : "text");
    } catch (const UserError&) {
    }
  }
}

void tokenizer(const uint8_t* data, size_t size) {
  // The first byte picks the mode; the rest is a tokenizer file (bit 0: tokenizer.json or a
  // sentencepiece .model), or, with bit 1, a text for the committed tokenizers to encode.
  if (size == 0) return;
  const uint8_t mode = data[0];
  const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  static const char* kTexts[] = {"", "Hello  world\n", "caf\xc3\xa9 \xff\xfe <|end|> <s> 12345 \xe2\x96\x81x", "\t\r\n  "};
  auto exercise = [](const Tokenizer& tok, const std::string& text) {
    for (bool special : {false, true}) {
      const std::vector<int32_t> ids = tok.encode(text, special);
      for (int32_t id : ids)
        if (id < 0 || id >= tok.vocab_size()) bug("encode produced an id outside the vocabulary");
      tok.decode(ids);
    }
  };
  if (mode & 2) {
    static const std::vector<Tokenizer> fixed = [] {
      std::vector<Tokenizer> t;
      for (const char* f : {"rho_bpe.model", "unigram_nfkc.model", "bpe_nfkc.model", "tiny/tokenizer.json"})
        t.push_back(Tokenizer::load(std::string(RHO_FIXTURE_DIR) + "/tokenizers/" + f));
      return t;
    }();
    for (const Tokenizer& tok : fixed) exercise(tok, rest);
    return;
  }
  try {
    const Tokenizer tok = Tokenizer::load(scratch(mode & 1 ? "tokenizer.model" : "tokenizer.json", data + 1, size - 1));
    for (const char* text : kTexts) exercise(tok, text);
  } catch (const UserError&) {
  }
}

}  // namespace rho::fuzz
