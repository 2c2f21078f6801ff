#include "eval/bos.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fileio.h"
#include "common/pytext.h"
#include "tokenizer/tokenizer.h"

namespace rho {

bool resolve_bos(const std::string& mode, const Tokenizer& tok, const std::string& model_dir, std::string* why) {
  auto say = [&](const std::string& w, bool v) {
    if (why) *why = w;
    return v;
  };
  if (mode == "yes") return say("--bos yes", true);
  if (mode == "no") return say("--bos no", false);
  if (mode != "auto") fail("--bos must be auto, yes or no, not \"" + mode + "\"");
  namespace fs = std::filesystem;
  std::string found;  // a tokenizer_config.json without add_bos_token
  for (const fs::path& dir : {fs::path(tok.path()).parent_path(), fs::path(model_dir)}) {
    const std::string config = (dir / "tokenizer_config.json").string();
    if (!file_exists(config)) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(config));
    } catch (const nlohmann::json::exception& e) {
      fail_file(config, std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object()) fail_file(config, "not a JSON object");
    if (!j.contains("add_bos_token")) {
      if (found.empty()) found = config;
      continue;
    }
    if (!j["add_bos_token"].is_boolean()) fail_file(config, "add_bos_token is not true or false");
    return say(config + " add_bos_token", j["add_bos_token"].get<bool>());
  }
  if (py::ends_with(tok.path(), ".json")) {
    const auto ids = tok.encode("a", true);
    const bool first = tok.bos_id() >= 0 && !ids.empty() && ids.front() == tok.bos_id();
    return say(tok.path() + " post-processor (" + (first ? "puts BOS first" : "adds no BOS") + ")", first);
  }
  if (!found.empty()) return say(found + " (no add_bos_token: LlamaTokenizer's default, true)", true);
  return say("no tokenizer_config.json (a rho tokenizer: trained without BOS)", false);
}

}  // namespace rho
