// Model directories in Hugging Face layout: config.json + model.safetensors.
#pragma once
#include <map>
#include <string>

#include "model/llama.h"

namespace rho {

// Copies tensors into the model's parameters by HF name (converting dtype). Every parameter must
// be present with its exact shape; UserError naming `where` and the tensor otherwise. Keys that
// are not parameters are ignored only when their name starts with one of `ignore_prefixes`.
void assign_parameters(LlamaForCausalLM& model, const std::map<std::string, torch::Tensor>& tensors,
                       const std::string& where, const std::vector<std::string>& ignore_prefixes = {});

// Writes <dir>/config.json and <dir>/model.safetensors (fp32), each atomically.
void save_model(const std::string& dir, LlamaForCausalLM& model);
// Loads a model directory written by save_model (or a single-file HF fp32/fp16/bf16 checkpoint).
LlamaForCausalLM load_model(const std::string& dir);

}  // namespace rho
