// Helpers shared by the test files.
#pragma once
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"
#include "data/documents.h"
#include "tokenizer/tokenizer.h"

namespace rho_test {

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

}  // namespace rho_test
