#include "eval/bos.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fileio.h"

namespace rho {

bool resolve_bos(const std::string& mode, const std::string& tokenizer_path, const std::string& model_dir,
                 std::string* why) {
  auto say = [&](const std::string& w, bool v) {
    if (why) *why = w;
    return v;
  };
  if (mode == "yes") return say("--bos yes", true);
  if (mode == "no") return say("--bos no", false);
  if (mode != "auto") fail("--bos must be auto, yes or no, not \"" + mode + "\"");
  namespace fs = std::filesystem;
  for (const fs::path& dir : {fs::path(tokenizer_path).parent_path(), fs::path(model_dir)}) {
    const std::string config = (dir / "tokenizer_config.json").string();
    if (!file_exists(config)) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(config));
    } catch (const nlohmann::json::exception& e) {
      fail_file(config, std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object()) fail_file(config, "not a JSON object");
    if (!j.contains("add_bos_token")) return say(config + " (no add_bos_token: Llama's default, true)", true);
    if (!j["add_bos_token"].is_boolean()) fail_file(config, "add_bos_token is not true or false");
    return say(config + " add_bos_token", j["add_bos_token"].get<bool>());
  }
  return say("no tokenizer_config.json (a rho tokenizer: trained without BOS)", false);
}

}  // namespace rho
