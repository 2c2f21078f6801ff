#include "train/trainer_state.h"

#include "common/error.h"

namespace rho {

std::string trainer_state_json(const TrainerState& s) {
  nlohmann::json j = {{"step", s.step},
                      {"data_cursor", s.data_cursor},
                      {"tokens_seen", s.tokens_seen},
                      {"tokens_trained", s.tokens_trained},
                      {"bad_steps", s.bad_steps},
                      {"run", s.run}};
  return j.dump(2) + "\n";
}

TrainerState parse_trainer_state(const std::string& text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail_file(where, std::string("invalid JSON: ") + e.what());
  }
  if (!j.is_object()) fail_file(where, "not a JSON object");
  // Integers only: nlohmann converts a float such as 6e44 to int64 without a range check, which
  // is undefined behaviour (fuzz/regressions/checkpoint).
  auto count = [&](const char* key, bool required) -> int64_t {
    if (!j.contains(key)) {
      if (required) fail_file(where, std::string("missing or mistyped field: no \"") + key + "\"");
      return 0;
    }
    if (!j[key].is_number_integer())
      fail_file(where, std::string("missing or mistyped field: \"") + key + "\" is not an integer");
    return j[key].get<int64_t>();
  };
  TrainerState s;
  s.step = count("step", true);
  s.data_cursor = count("data_cursor", true);
  s.tokens_seen = count("tokens_seen", true);
  s.tokens_trained = count("tokens_trained", true);
  s.bad_steps = count("bad_steps", false);
  s.run = j.contains("run") ? j["run"] : nlohmann::json::object();
  if (!s.run.is_object()) fail_file(where, "field \"run\" is not an object");
  for (auto [name, v] : {std::pair{"step", s.step}, {"data_cursor", s.data_cursor}, {"tokens_seen", s.tokens_seen},
                         {"tokens_trained", s.tokens_trained}, {"bad_steps", s.bad_steps}})
    if (v < 0) fail_file(where, std::string(name) + " is negative (" + std::to_string(v) + ")");
  return s;
}

std::string parse_latest_pointer(const std::string& text, const std::string& where) {
  std::string name = text;
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ' || name.back() == '\r')) name.pop_back();
  bool ok = name.size() > 5 && name.rfind("step_", 0) == 0;
  for (size_t i = 5; ok && i < name.size(); ++i) ok = name[i] >= '0' && name[i] <= '9';
  if (!ok) fail_file(where, "does not name a checkpoint (expected step_NNNNNNN)");
  return name;
}

}  // namespace rho
