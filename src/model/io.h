// Model directories in Hugging Face layout: config.json plus model.safetensors, or shards
// model-0000i-of-0000n.safetensors listed by model.safetensors.index.json (HF's names and
// [out, in] weight layouts; fp32, fp16 or bf16). What HF transformers writes, rho loads, and
// what rho writes, transformers loads (checked on the GPU machine, scripts/gpu/hf_parity.py).
#pragma once
#include <map>
#include <string>

#include "model/llama.h"

namespace rho {

// Copies tensors into the model's parameters by HF name (converting dtype). Every parameter must
// be present with its exact shape; UserError naming `where` and the tensor otherwise. A tied
// model's embedding table may be stored as model.embed_tokens.weight or lm_head.weight (both
// stored: they must be equal). Keys that are not parameters are ignored only when their name
// starts with one of `ignore_prefixes`.
void assign_parameters(LlamaForCausalLM& model, const std::map<std::string, torch::Tensor>& tensors,
                       const std::string& where, const std::vector<std::string>& ignore_prefixes = {});

struct SaveOptions {
  torch::ScalarType dtype = torch::kFloat;  // kFloat, kHalf or kBFloat16
  int64_t max_shard_bytes = 0;              // 0: one model.safetensors; else shards + index
};
// Writes <dir>/config.json, the weights and the model's tokenizer (save_tokenizer), each file
// atomically. Weight files of another layout left in `dir` (a single file when writing shards,
// or the reverse) are removed so the directory never holds two disagreeing copies.
void save_model(const std::string& dir, LlamaForCausalLM& model, const SaveOptions& opts = {});
// A model directory's tokenizer: rho.json (the tokenizer record, model/model_use.h) when the
// fingerprint is known, and the tokenizer's files when `tok` carries them (tokenizer.model or
// tokenizer.json, and its tokenizer_config.json); tokenizer files of another tokenizer in `dir`
// are removed.
void save_tokenizer(const std::string& dir, const TokenizerId& tok);

// Every tensor of a model directory, single-file or sharded (CPU, in the files' dtypes), with the
// aliases each file's __metadata__ names (tensor_aliases: safetensors' save_model) under their
// own names too. UserError when the index names a missing shard, or a shard lacks a tensor the
// index promises.
std::map<std::string, torch::Tensor> load_weights(const std::string& dir);
// Loads a model directory (rho's or a Hugging Face Llama checkpoint) as fp32, with its
// tokenizer record.
LlamaForCausalLM load_model(const std::string& dir);

// The tokenizer a model directory records (rho.json), or else the fingerprint of the tokenizer
// file it carries (tokenizer_file_in); fingerprint 0 when neither. With the carried files when
// they are the recorded tokenizer. UserError naming rho.json when it is not a valid record.
TokenizerId read_tokenizer_record(const std::string& dir);

// "F32" / "F16" / "BF16" (also "fp32", "float16", "bf16", ...) -> dtype; UserError otherwise.
torch::ScalarType parse_weight_dtype(const std::string& s);

}  // namespace rho
