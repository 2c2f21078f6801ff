// rho model logits: fp32 logits of a model directory for a given matrix of token ids, for parity
// checks against other implementations (scripts/gpu/hf_parity.py compares them with
// transformers'). Tokens come as ids, not text, so both sides see exactly the same input.
#include <cstdio>

#include "cli/commands.h"
#include "common/fileio.h"
#include "model/id_matrix.h"
#include "model/io.h"
#include "model/safetensors.h"

namespace rho::cli {

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

}  // namespace rho::cli
