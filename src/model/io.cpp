#include "model/io.h"

#include "common/error.h"
#include "common/fileio.h"
#include "model/safetensors.h"

namespace rho {

void assign_parameters(LlamaForCausalLM& model, const std::map<std::string, torch::Tensor>& tensors,
                       const std::string& where, const std::vector<std::string>& ignore_prefixes) {
  torch::NoGradGuard no_grad;
  auto params = model->named_parameters();
  for (auto& p : params) {
    auto it = tensors.find(p.key());
    if (it == tensors.end()) fail_file(where, "missing tensor '" + p.key() + "'");
    if (it->second.sizes() != p.value().sizes()) {
      std::ostringstream s;
      s << "tensor '" << p.key() << "' has shape " << it->second.sizes() << ", the model needs "
        << p.value().sizes();
      fail_file(where, s.str());
    }
    p.value().copy_(it->second.to(p.value().scalar_type()));
  }
  for (auto& [name, t] : tensors) {
    if (params.contains(name)) continue;
    bool ignored = false;
    for (auto& pre : ignore_prefixes) ignored |= name.rfind(pre, 0) == 0;
    // HF writes rotary inv_freq buffers in some versions: derived state, safe to skip.
    ignored |= name.find("rotary_emb.inv_freq") != std::string::npos;
    if (!ignored) fail_file(where, "unexpected tensor '" + name + "' (not a parameter of this config)");
  }
}

void save_model(const std::string& dir, LlamaForCausalLM& model) {
  make_dirs(dir);
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (auto& p : model->named_parameters()) tensors.emplace_back(p.key(), p.value().to(torch::kFloat));
  save_safetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});
  write_file_atomic(dir + "/config.json", to_json(model->config).dump(2) + "\n");
}

LlamaForCausalLM load_model(const std::string& dir) {
  if (!file_exists(dir)) fail_file(dir, "model directory does not exist");
  auto config = load_config(dir + "/config.json");
  LlamaForCausalLM model(config);
  const std::string weights = dir + "/model.safetensors";
  assign_parameters(model, load_safetensors(weights).tensors, weights);
  return model;
}

}  // namespace rho
