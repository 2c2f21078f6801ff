// Whether prompts start with BOS, "as the tokenizer says": a Hugging Face tokenizer carries
// tokenizer_config.json, whose add_bos_token (default true for Llama's tokenizers) decides;
// rho's own tokenizers have none, and rho trains without BOS (`rho tokenize` adds it only with
// --bos), so none is added there.
#pragma once
#include <string>

namespace rho {

// mode: "auto" (the rule above), "yes", "no". Looks for tokenizer_config.json beside the
// tokenizer file, then in the model directory. UserError for another mode or an unreadable
// config; `why` (optional) receives the reason, for summaries.
bool resolve_bos(const std::string& mode, const std::string& tokenizer_path, const std::string& model_dir,
                 std::string* why = nullptr);

}  // namespace rho
