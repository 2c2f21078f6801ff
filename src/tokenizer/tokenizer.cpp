#include "tokenizer/tokenizer.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <unordered_map>

#include "common/error.h"
#include "common/fileio.h"
#include <nlohmann/json.hpp>

#include "tokenizer/model.h"
#include "tokenizer/spm_library.h"

namespace rho {
namespace {

namespace fs = std::filesystem;

// sentencepiece errors read "Internal: src/file.cc(line) [failed condition] message"; only the
// message (often empty) means anything to a user.
std::string spm_reason(char* err) {
  std::string why = err ? err : "";
  spm_library().free_buf(err);
  if (const auto cut = why.find("] "); cut != std::string::npos) why = why.substr(cut + 2);
  while (!why.empty() && std::isspace(static_cast<unsigned char>(why.back()))) why.pop_back();
  return why;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// A directory means its tokenizer file (tokenizer_file_in).
std::string resolve_file(const std::string& path) {
  if (!fs::is_directory(path)) return path;
  const std::string file = tokenizer_file_in(path);
  if (file.empty()) fail_file(path, "directory holds neither tokenizer.json nor tokenizer.model");
  return file;
}

// A token named in tokenizer_config.json: a string, an AddedToken-like object, or null.
int32_t config_token(const nlohmann::json& cfg, const char* key, const tok::Model& m, const std::string& cfg_path,
                     int32_t fallback) {
  if (!cfg.contains(key)) return fallback;
  const auto& v = cfg[key];
  if (v.is_null()) return -1;
  const std::string name = v.is_object() ? v.at("content").get<std::string>() : v.get<std::string>();
  const int32_t id = m.token_to_id(name);
  if (id < 0) fail_file(cfg_path, std::string(key) + " '" + name + "' is not in the tokenizer's vocabulary");
  return id;
}

// tokenizer_config.json beside the tokenizer decides BOS/EOS and whether they are added, as
// transformers' Llama-family tokenizers do; without it the tokenizer file's own choice stands.
void apply_config(const std::string& file, tok::Model& m) {
  const std::string cfg_path = (fs::path(file).parent_path() / "tokenizer_config.json").string();
  if (!fs::is_regular_file(cfg_path)) return;
  try {
    const auto cfg = nlohmann::json::parse(read_file(cfg_path));
    if (!cfg.is_object()) fail_file(cfg_path, "not a JSON object");
    m.bos = config_token(cfg, "bos_token", m, cfg_path, m.bos);
    m.eos = config_token(cfg, "eos_token", m, cfg_path, m.eos);
    auto flag = [&](const char* key, std::vector<int32_t>& ids, int32_t id) {
      if (!cfg.contains(key) || cfg[key].is_null()) return;
      ids.clear();
      if (!cfg[key].get<bool>()) return;
      if (id < 0) fail_file(cfg_path, std::string(key) + " is true but the tokenizer has no such token");
      ids.push_back(id);
    };
    flag("add_bos_token", m.prefix, m.bos);
    flag("add_eos_token", m.suffix, m.eos);
  } catch (const nlohmann::json::exception& e) {
    fail_file(cfg_path, std::string("malformed tokenizer_config.json: ") + e.what());
  }
}

// Error messages quote pieces and names from the file, which may hold any bytes: control
// characters are escaped so an error stays one line.
std::string one_line(const std::string& msg) {
  std::string out;
  for (unsigned char c : msg) {
    if (c >= 0x20 && c != 0x7F) {
      out += char(c);
    } else {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02X", c);
      out += esc;
    }
  }
  return out;
}

}  // namespace

std::string tokenizer_file_in(const std::string& dir) {
  for (const char* name : {"tokenizer.json", "tokenizer.model"})
    if (fs::is_regular_file(fs::path(dir) / name)) return (fs::path(dir) / name).string();
  return "";
}

std::shared_ptr<const TokenizerFiles> read_tokenizer_files(const std::string& path) {
  const std::string file = resolve_file(path);
  if (!fs::is_regular_file(file)) fail_file(file, "no such tokenizer model file");
  auto out = std::make_shared<TokenizerFiles>();
  std::string bytes = read_file(file);
  if (bytes.empty()) fail_file(file, "empty file, not a tokenizer");
  const size_t first = bytes.find_first_not_of(" \t\r\n");
  const bool json = ends_with(file, ".json") || (!ends_with(file, ".model") && first != std::string::npos && bytes[first] == '{');
  out->fingerprint = fnv1a64(bytes.data(), bytes.size());
  out->files.emplace_back(json ? "tokenizer.json" : "tokenizer.model", std::move(bytes));
  const std::string cfg = (fs::path(file).parent_path() / "tokenizer_config.json").string();
  if (fs::is_regular_file(cfg)) out->files.emplace_back("tokenizer_config.json", read_file(cfg));
  return out;
}

void TokenizerFiles::write_to(const std::string& dir) const {
  for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json"}) {
    bool held = false;
    for (const auto& f : files) held |= f.first == name;
    if (!held) remove_file_if_exists((fs::path(dir) / name).string());
  }
  for (const auto& [name, bytes] : files) write_file_atomic((fs::path(dir) / name).string(), bytes);
}

Tokenizer Tokenizer::load(const std::string& path) try {
  const std::string file = resolve_file(path);
  auto files = read_tokenizer_files(file);
  const std::string& bytes = files->files.front().second;
  const bool json = files->tokenizer_name() == "tokenizer.json";
  std::unique_ptr<tok::Model> m = json ? tok::load_hf_json(file, bytes) : tok::load_spm(file, bytes);
  apply_config(file, *m);
  Tokenizer t;
  t.model_ = std::move(m);
  t.fingerprint_ = files->fingerprint;
  t.path_ = file;
  t.files_ = std::move(files);
  return t;
} catch (const UserError& e) {
  throw UserError(one_line(e.what()));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special) out = model_->prefix;
  model_->encode(text, out);
  if (add_special) out.insert(out.end(), model_->suffix.begin(), model_->suffix.end());
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  const int n = vocab_size();
  for (int32_t id : ids)
    if (id < 0 || id >= n)
      fail_file(path_, "cannot decode token id " + std::to_string(id) + ": vocabulary has " +
                           std::to_string(n) + " pieces");
  return model_->decode(ids);
}

std::string Tokenizer::id_to_piece(int32_t id) const {
  if (id < 0 || id >= vocab_size())
    fail_file(path_, "token id " + std::to_string(id) + " is outside the vocabulary");
  return model_->id_to_piece(id);
}

std::optional<std::string> Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= vocab_size())
    fail_file(path_, "token id " + std::to_string(id) + " is outside the vocabulary");
  return model_->token_bytes(id);
}

int32_t Tokenizer::vocab_size() const { return model_->vocab_size(); }
int32_t Tokenizer::bos_id() const { return model_->bos; }
int32_t Tokenizer::eos_id() const { return model_->eos; }
int32_t Tokenizer::unk_id() const { return model_->unk; }
bool Tokenizer::adds_dummy_prefix() const { return model_->dummy_prefix; }

namespace {

// The training corpus as sentencepiece wants it: a text file, one sentence per line. It is
// removed however training ends.
class TempCorpus {
 public:
  TempCorpus() {
    std::string pattern = (std::filesystem::temp_directory_path() / "rho-spm-XXXXXX").string();
    int fd = ::mkstemp(pattern.data());
    if (fd < 0) fail_file(pattern, std::string("cannot create temporary file: ") + std::strerror(errno));
    path_ = pattern;
    f_ = ::fdopen(fd, "wb");
    if (!f_) {
      ::close(fd);
      std::remove(path_.c_str());
      fail_file(path_, std::string("cannot open temporary file: ") + std::strerror(errno));
    }
  }
  ~TempCorpus() {
    if (f_) std::fclose(f_);
    std::remove(path_.c_str());
  }
  TempCorpus(const TempCorpus&) = delete;
  TempCorpus& operator=(const TempCorpus&) = delete;

  void add_line(const std::string& line) {
    fwrite_checked(f_, line.data(), line.size(), path_);
    fwrite_checked(f_, "\n", 1, path_);
    ++lines_;
  }
  void close() {
    int rc = std::fclose(f_);
    f_ = nullptr;
    if (rc != 0) fail_file(path_, std::string("write failed: ") + std::strerror(errno));
  }
  const std::string& path() const { return path_; }
  int64_t lines() const { return lines_; }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
  int64_t lines_ = 0;
};

std::string vocab_path_for(const std::string& model_path) {
  const std::string ext = ".model";
  if (model_path.size() > ext.size() &&
      model_path.compare(model_path.size() - ext.size(), ext.size(), ext) == 0)
    return model_path.substr(0, model_path.size() - ext.size()) + ".vocab";
  return model_path + ".vocab";
}

// The documents as sentencepiece reads its input: one line per sentence, in a temporary file.
// Documents are fed line by line: sentencepiece skips sentences longer than
// max_sentence_length and reads its input one line per sentence anyway. Newlines therefore
// never become pieces and encode through byte fallback (<0x0A>), exactly like Llama's
// tokenizer, and since no dummy prefix is added, a word at the start of a line tokenizes the
// same in training and in a multi-line prompt.
void write_training_lines(const TextSource& documents, TempCorpus& corpus) {
  documents([&](const std::string& doc) {
    size_t begin = 0;
    while (begin <= doc.size()) {
      size_t end = doc.find('\n', begin);
      if (end == std::string::npos) end = doc.size();
      if (end > begin) corpus.add_line(doc.substr(begin, end - begin));
      begin = end + 1;
    }
  });
  corpus.close();
}

// Trains the BPE model on the corpus file; returns the serialized .model.
std::string train_bpe_model(const TokenizerTrainOptions& opts, const std::string& corpus_path) {
  const unsigned threads = std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
  // No model_prefix: sentencepiece then returns the model in memory instead of writing files,
  // and the .model is written atomically below.
  const std::unordered_map<std::string, std::string> args = {
      {"input", corpus_path},
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(opts.vocab_size)},
      {"byte_fallback", "true"},
      {"split_digits", "true"},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"allow_whitespace_only_pieces", "true"},
      {"add_dummy_prefix", "false"},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"pad_id", "-1"},
      {"character_coverage", "0.9995"},
      {"input_sentence_size", std::to_string(opts.max_sentences)},
      {"shuffle_input_sentence", "true"},
      {"max_sentence_length", "65536"},
      {"num_threads", std::to_string(threads)},
      {"minloglevel", "2"},  // sentencepiece logs every training step at INFO
  };
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : args) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  const SpmLibrary& lib = spm_library();
  char* proto = nullptr;
  size_t proto_len = 0;
  char* err = nullptr;
  if (lib.train(keys.data(), values.data(), keys.size(), static_cast<unsigned>(opts.seed % 0xffffffffULL),
                &proto, &proto_len, &err) != 0) {
    const std::string why = spm_reason(err);
    fail("tokenizer training failed: " + (why.empty() ? "unknown sentencepiece error" : why));
  }
  std::string model_proto(proto, proto_len);
  lib.free_buf(proto);
  return model_proto;
}

// The pieces and scores in sentencepiece's own .vocab format (for inspection).
std::string vocab_listing(const std::string& model_proto) {
  const SpmLibrary& lib = spm_library();
  char* err = nullptr;
  rho_spm* sp = lib.load(model_proto.data(), model_proto.size(), &err);
  if (!sp) {
    lib.free_buf(err);
    fail("tokenizer training produced an unreadable model");
  }
  std::string vocab;
  for (int32_t id = 0; id < lib.size(sp); ++id) {
    char* piece = nullptr;
    size_t len = 0;
    lib.piece(sp, id, &piece, &len);
    vocab += std::string(piece, len) + "\t" + std::to_string(lib.score(sp, id)) + "\n";
    lib.free_buf(piece);
  }
  lib.free(sp);
  return vocab;
}

}  // namespace

void train_tokenizer(const TokenizerTrainOptions& opts, const TextSource& documents) {
  if (opts.out_model.empty()) fail("tokenizer training needs an output path");
  TempCorpus corpus;
  write_training_lines(documents, corpus);
  if (corpus.lines() == 0) fail("tokenizer training inputs hold no text");
  const std::string model_proto = train_bpe_model(opts, corpus.path());
  const std::string vocab = vocab_listing(model_proto);
  const auto parent = std::filesystem::path(opts.out_model).parent_path();
  if (!parent.empty()) make_dirs(parent.string());
  write_file_atomic(opts.out_model, model_proto);
  write_file_atomic(vocab_path_for(opts.out_model), vocab);
}

}  // namespace rho
