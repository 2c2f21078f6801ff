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
  TrainerState s;
  try {
    s.step = j.at("step").get<int64_t>();
    s.data_cursor = j.at("data_cursor").get<int64_t>();
    s.tokens_seen = j.at("tokens_seen").get<int64_t>();
    s.tokens_trained = j.at("tokens_trained").get<int64_t>();
    s.bad_steps = j.value("bad_steps", int64_t(0));
    s.run = j.value("run", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    fail_file(where, std::string("missing or mistyped field: ") + e.what());
  }
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
