// One function per parser that reads files from outside: the libFuzzer targets (fuzz_main.cpp)
// and the regression replay in rho_tests both call these. Each returns normally for any input
// that the parser accepts or rejects with a UserError; anything else (another exception, a
// sanitizer report, a failed round trip) is a bug and aborts.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rho::fuzz {

void shard(const uint8_t* data, size_t size);          // RHOTOKS1 token shards (mmap'ed file)
void score_file(const uint8_t* data, size_t size);     // RHOSCOR1 score files
void checkpoint(const uint8_t* data, size_t size);     // trainer_state.json and the `latest` pointer
void config(const uint8_t* data, size_t size);         // HF config.json
void input_ids(const uint8_t* data, size_t size);      // rho model logits --input-ids (JSON id matrix)
void documents(const uint8_t* data, size_t size);      // JSONL and text document readers
void safetensors(const uint8_t* data, size_t size);    // safetensors headers and data (needs libtorch)
void tokenizer(const uint8_t* data, size_t size);      // tokenizer.json / sentencepiece .model, and the encoders

struct Target {
  const char* name;
  void (*fn)(const uint8_t*, size_t);
};
inline const std::vector<Target>& all_targets() {
  static const std::vector<Target> t = {{"shard", shard},   {"score_file", score_file},
                                        {"checkpoint", checkpoint}, {"config", config},
                                        {"input_ids", input_ids},
                                        {"documents", documents}, {"safetensors", safetensors},
                                        {"tokenizer", tokenizer}};
  return t;
}

}  // namespace rho::fuzz
