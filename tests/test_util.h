// Helpers shared by the test files.
#pragma once
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/fileio.h"
#include "data/documents.h"
#include "tokenizer/tokenizer.h"

namespace rho_test {

// tests/fixtures and the source tree of this checkout (tests/test_paths.cpp).
std::string fixture_dir();
std::string source_dir();

// A fresh directory under /tmp, removed with everything in it when the test ends.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/rho-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // Writes `contents` to <path>/<name>; returns that path.
  std::string write(const std::string& name, const std::string& contents) const {
    const std::string p = path + "/" + name;
    std::ofstream(p, std::ios::binary) << contents;
    return p;
  }
};

// The UserError message fn throws; a test failure when it throws none.
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const rho::UserError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a rho::UserError";
  return "";
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Tokenizer training text: every document of `paths` (data/documents.h).
inline rho::TextSource documents_of(std::vector<std::string> paths, rho::DocFormat format) {
  return [paths = std::move(paths), format = std::move(format)](const rho::TextEmitter& emit) {
    rho::for_each_document(paths, format, emit);
  };
}

// Trains a BPE tokenizer (rho's defaults) on the documents of `inputs`, shaped by `format`'s
// template; returns the error message, "" on success. Sentencepiece's trainer cannot load in a
// sanitized build (tests/cli/lib/setup.sh says why): there RHO_TOK names the normal build's rho
// and training runs through it, with the same options.
inline std::string train_tokenizer_or_error(const std::vector<std::string>& inputs, const std::string& out,
                                            int vocab_size, const rho::DocFormat& format = {}) {
  if (const char* rho_tok = std::getenv("RHO_TOK")) {
    const auto quoted = [](const std::string& s) { return "'" + s + "'"; };
    std::string cmd = quoted(rho_tok) + " tokenizer train";
    if (!format.template_.empty()) {
      std::string t;  // the CLI reads "\n" in a template as a newline
      for (char c : format.template_) t += c == '\n' ? std::string("\\n") : std::string(1, c);
      cmd += " --template " + quoted(t);
    }
    for (const auto& in : inputs) cmd += " --input " + quoted(in);
    // stderr goes beside the test's other files, not beside `out`, whose directory training creates.
    static int calls = 0;
    const std::string err = std::filesystem::temp_directory_path().string() + "/rho-train-" +
                            std::to_string(::getpid()) + "-" + std::to_string(++calls) + ".err";
    cmd += " --vocab-size " + std::to_string(vocab_size) + " --out " + quoted(out) + " >/dev/null 2>" + quoted(err);
    const int rc = std::system(cmd.c_str());
    std::string msg = rho::file_exists(err) ? rho::read_file(err) : "training command failed: " + cmd;
    std::remove(err.c_str());
    if (rc == 0) return "";
    if (msg.rfind("rho: error: ", 0) == 0) msg = msg.substr(12);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    return msg;
  }
  try {
    rho::TokenizerTrainOptions opts;
    opts.out_model = out;
    opts.vocab_size = vocab_size;
    rho::train_tokenizer(opts, documents_of(inputs, format));
    return "";
  } catch (const rho::UserError& e) {
    return e.what();
  }
}

// train_tokenizer_or_error, then the tokenizer loaded; throws (failing the test) on an error.
inline rho::Tokenizer train_test_tokenizer(const std::vector<std::string>& inputs, const std::string& out,
                                           int vocab_size, const rho::DocFormat& format = {}) {
  const std::string err = train_tokenizer_or_error(inputs, out, vocab_size, format);
  if (!err.empty()) throw std::runtime_error("training the test tokenizer: " + err);
  return rho::Tokenizer::load(out);
}

}  // namespace rho_test
