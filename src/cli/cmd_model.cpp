// rho model presets|info|logits: model shapes, a directory's config, and fp32 logits for a
// [B, L] matrix of token ids, for parity checks against other implementations
// (scripts/gpu/hf_parity.py compares them with transformers'). Tokens come as ids, not text, so
// both sides see exactly the same input.
#include <cstdio>

#include "cli/commands.h"
#include "cli/id_matrix.h"
#include "common/fileio.h"
#include "common/runtime.h"
#include "model/config.h"
#include "model/io.h"
#include "model/safetensors.h"

namespace rho::cli {
namespace {

void register_model_logits(CLI::App& model_cmd) {
  auto* sub = model_cmd.add_subcommand("logits", "fp32 logits for a [B, L] matrix of token ids (parity checks)");
  auto dir = std::make_shared<std::string>();
  auto ids_path = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  sub->add_option("--model", *dir, "Model directory (rho's or Hugging Face's)")->required();
  sub->add_option("--input-ids", *ids_path, "JSON file: an array of B rows of L token ids, [[1, 2], [3, 4]]")
      ->required();
  sub->add_option("--out", *out, "Write input_ids (B, L) and logits (B, L, V) here as safetensors");
  sub->callback([dir, ids_path, out] {
    // The ids are checked against the config before the weights are read.
    const auto config = load_config(*dir + "/config.json");
    const IdMatrix m = parse_id_matrix(read_file(*ids_path), *ids_path, config.vocab_size);
    auto model = load_model(*dir);
    model->eval();
    torch::NoGradGuard no_grad;
    auto ids = torch::tensor(m.ids, torch::kInt64).view({m.rows, m.cols});  // (B, L)
    auto logits = model->forward(ids).to(torch::kFloat).contiguous();       // (B, L, V)
    if (!out->empty()) {
      save_safetensors(*out, {{"input_ids", ids}, {"logits", logits}}, {{"format", "pt"}});
      std::fprintf(stderr, "logits: %s (%lld x %lld x %lld, fp32)\n", out->c_str(), (long long)m.rows,
                   (long long)m.cols, (long long)logits.size(2));
      return;
    }
    auto last = logits.select(1, m.cols - 1);  // (B, V): the next-token prediction of each row
    std::printf("logits %lld x %lld x %lld (fp32), mean %.6f, std %.6f, max abs %.6f\n", (long long)m.rows,
                (long long)m.cols, (long long)logits.size(2), logits.mean().item<double>(),
                logits.std().item<double>(), logits.abs().max().item<double>());
    for (int64_t b = 0; b < m.rows; ++b)
      std::printf("row %lld: last position argmax %lld (logit %.6f)\n", (long long)b,
                  (long long)last[b].argmax().item<int64_t>(), last[b].max().item<double>());
  });
}

}  // namespace

void register_model(CLI::App& app) {
  auto* sub = app.add_subcommand("model", "Model presets and configs (docs/hf.md)");
  sub->require_subcommand(1);
  auto* presets = sub->add_subcommand("presets", "List the named model presets");
  presets->callback([] {
    std::printf("%-16s %8s %6s %7s %6s %8s %14s\n", "preset", "hidden", "layers", "heads", "kv", "ffn", "params@vocab");
    for (auto& n : preset_names()) {
      auto c = preset(n);
      std::printf("%-16s %8lld %6lld %7lld %6lld %8lld %14s\n", n.c_str(), (long long)c.hidden_size,
                  (long long)c.num_hidden_layers, (long long)c.num_attention_heads,
                  (long long)c.num_key_value_heads, (long long)c.intermediate_size, (format_count(double(c.num_params())) + "@" +
                  std::to_string(c.vocab_size)).c_str());
    }
  });
  auto* info = sub->add_subcommand("info", "Print a model directory's config and size");
  auto dir = std::make_shared<std::string>();
  info->add_option("dir", *dir, "Model directory (config.json + model.safetensors)")->required();
  info->callback([dir] {
    auto m = load_model(*dir);
    std::printf("%s\nparams %s\n", to_json(m->config).dump(2).c_str(), format_count(double(m->config.num_params())).c_str());
  });
  register_model_logits(*sub);
}

}  // namespace rho::cli
