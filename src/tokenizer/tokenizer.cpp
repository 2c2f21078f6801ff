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
#include "tokenizer/spm_library.h"

namespace rho {
namespace {

// sentencepiece errors read "Internal: src/file.cc(line) [failed condition] message"; only the
// message (often empty) means anything to a user.
std::string spm_reason(char* err) {
  std::string why = err ? err : "";
  spm_library().free_buf(err);
  if (const auto cut = why.find("] "); cut != std::string::npos) why = why.substr(cut + 2);
  while (!why.empty() && std::isspace(static_cast<unsigned char>(why.back()))) why.pop_back();
  return why;
}

}  // namespace

std::string tokenizer_file_in(const std::string& dir) {
  for (const char* name : {"tokenizer.json", "tokenizer.model"})
    if (std::filesystem::is_regular_file(dir + "/" + name)) return dir + "/" + name;
  return "";
}

Tokenizer Tokenizer::load(const std::string& model_path) {
  if (!std::filesystem::is_regular_file(model_path)) fail_file(model_path, "no such tokenizer model file");
  const std::string bytes = read_file(model_path);
  if (bytes.empty()) fail_file(model_path, "empty file, not a sentencepiece model");
  const SpmLibrary& lib = spm_library();
  char* err = nullptr;
  rho_spm* handle = lib.load(bytes.data(), bytes.size(), &err);
  if (!handle) {
    const std::string why = spm_reason(err);
    fail_file(model_path, "not a sentencepiece model" + (why.empty() ? "" : " (" + why + ")"));
  }
  Tokenizer t;
  t.sp_ = std::shared_ptr<rho_spm>(handle, lib.free);
  t.fingerprint_ = fnv1a64(bytes.data(), bytes.size());
  t.path_ = model_path;
  return t;
}

std::vector<int32_t> Tokenizer::encode(const std::string& text) const {
  const SpmLibrary& lib = spm_library();
  int32_t* ids = nullptr;
  size_t n = 0;
  char* err = nullptr;
  if (lib.encode(sp_.get(), text.data(), text.size(), &ids, &n, &err) != 0) {
    const std::string why = err ? err : "unknown error";
    lib.free_buf(err);
    fail_file(path_, "encode failed: " + why);
  }
  std::vector<int32_t> out(ids, ids + n);
  lib.free_buf(ids);
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  const int n = vocab_size();
  for (int32_t id : ids)
    if (id < 0 || id >= n)
      fail_file(path_, "cannot decode token id " + std::to_string(id) + ": vocabulary has " +
                           std::to_string(n) + " pieces");
  const SpmLibrary& lib = spm_library();
  char* text = nullptr;
  size_t len = 0;
  char* err = nullptr;
  if (lib.decode(sp_.get(), ids.data(), ids.size(), &text, &len, &err) != 0) {
    const std::string why = err ? err : "unknown error";
    lib.free_buf(err);
    fail_file(path_, "decode failed: " + why);
  }
  std::string out(text, len);
  lib.free_buf(text);
  return out;
}

std::string Tokenizer::id_to_piece(int32_t id) const {
  if (id < 0 || id >= vocab_size())
    fail_file(path_, "token id " + std::to_string(id) + " is outside the vocabulary");
  const SpmLibrary& lib = spm_library();
  char* piece = nullptr;
  size_t len = 0;
  lib.piece(sp_.get(), id, &piece, &len);
  std::string out(piece, len);
  lib.free_buf(piece);
  return out;
}

int32_t Tokenizer::vocab_size() const { return spm_library().size(sp_.get()); }
int32_t Tokenizer::bos_id() const { return spm_library().bos(sp_.get()); }
int32_t Tokenizer::eos_id() const { return spm_library().eos(sp_.get()); }

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

}  // namespace

void train_tokenizer(const TokenizerTrainOptions& opts, const TextSource& documents) {
  if (opts.out_model.empty()) fail("tokenizer training needs an output path");

  // Documents are fed line by line: sentencepiece skips sentences longer than
  // max_sentence_length and reads its input one line per sentence anyway. Newlines therefore
  // never become pieces and encode through byte fallback (<0x0A>), exactly like Llama's
  // tokenizer, and since no dummy prefix is added, a word at the start of a line tokenizes the
  // same in training and in a multi-line prompt.
  TempCorpus corpus;
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
  if (corpus.lines() == 0) fail("tokenizer training inputs hold no text");

  const unsigned threads = std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
  // No model_prefix: sentencepiece then returns the model in memory instead of writing files,
  // and the .model is written atomically below.
  const std::unordered_map<std::string, std::string> args = {
      {"input", corpus.path()},
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
  const std::string model_proto(proto, proto_len);
  lib.free_buf(proto);

  // Write the pieces beside the model, in sentencepiece's own .vocab format, for inspection.
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

  const auto parent = std::filesystem::path(opts.out_model).parent_path();
  if (!parent.empty()) make_dirs(parent.string());
  write_file_atomic(opts.out_model, model_proto);
  write_file_atomic(vocab_path_for(opts.out_model), vocab);
}

}  // namespace rho
