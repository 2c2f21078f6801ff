// safetensors: an 8-byte little-endian header length, a JSON header
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then raw little-endian tensor bytes. Used for model weights (HF's format) and test fixtures.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace rho {

struct SafetensorsFile {
  std::map<std::string, torch::Tensor> tensors;  // CPU tensors in the file's dtype
  std::map<std::string, std::string> metadata;
};

// Strict: the header must fit the file, every dtype must be known (F64 F32 F16 BF16 I64 I32 I16
// I8 U8 BOOL), shapes non-negative, offsets inside the data section, byte counts equal to
// numel * element size, no two tensors overlapping. UserError "<path>: <problem>" otherwise;
// nothing is read out of bounds.
SafetensorsFile load_safetensors(const std::string& path);
SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& where);

// The aliases a file's __metadata__ names: safetensors' save_model drops each tensor that shares
// storage with a kept one and records `"<dropped name>": "<kept name>"` there (a tied model keeps
// "lm_head.weight" and records "model.embed_tokens.weight" as its alias). Returned as dropped ->
// kept for every entry whose value names a tensor of the file and whose key names none; other
// metadata ("format": "pt", ...) is not an alias.
std::map<std::string, std::string> tensor_aliases(const SafetensorsFile& file);

// Writes atomically (temporary name, then rename). Tensors are made contiguous on CPU.
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace rho
