// trainer_state.json of a checkpoint (checkpoint.h): where the run stands. Free of libtorch so
// the fuzzer can link it alone.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rho {

struct TrainerState {
  int64_t step = 0;          // optimizer steps completed
  int64_t data_cursor = 0;   // DataLoader::cursor() for the next step
  int64_t tokens_seen = 0;   // tokens the model was run on
  int64_t tokens_trained = 0;  // tokens the loss was taken over (== seen for CLM; selected for SLM)
  int64_t bad_steps = 0;     // steps skipped for a non-finite loss or gradient
  nlohmann::json run;        // the run's settings, for checking a resume is the same run
  // SLM --selection-scope stream: the window of recent scores its threshold comes from, oldest
  // first. Stored beside trainer_state.json (selection.safetensors), not in it.
  std::vector<float> stream_window;
};

std::string trainer_state_json(const TrainerState& s);
// UserError naming `where` for invalid JSON, a missing or mistyped field, or a negative count.
TrainerState parse_trainer_state(const std::string& text, const std::string& where);

// The checkpoint name a `latest` pointer file holds (trailing whitespace dropped); UserError
// naming `where` unless it is a plain step_NNNNNNN name.
std::string parse_latest_pointer(const std::string& text, const std::string& where);

}  // namespace rho
