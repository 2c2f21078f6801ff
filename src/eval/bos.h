// Whether prompts start with BOS, "as the tokenizer says" (`--bos auto`), which is what vLLM
// does for the math harness and what lm-evaluation-harness does since 0.4.9.2 (before that it
// added none unless asked):
//   1. a tokenizer_config.json (beside the tokenizer file, else in the model directory) with
//      add_bos_token decides;
//   2. else a Hugging Face tokenizer.json decides by its post-processor (whether encoding with
//      special tokens puts BOS first: Llama's does, Qwen's and GPT-2's do not);
//   3. else a sentencepiece model with a tokenizer_config.json gets BOS (LlamaTokenizer's
//      default add_bos_token);
//   4. else it is one of rho's own tokenizers, trained without BOS (`rho tokenize` adds it only
//      with --bos): none.
#pragma once
#include <string>

namespace rho {

class Tokenizer;

// mode: "auto" (the rule above), "yes", "no". UserError for another mode or an unreadable
// config; `why` (optional) receives the reason, for summaries.
bool resolve_bos(const std::string& mode, const Tokenizer& tok, const std::string& model_dir,
                 std::string* why = nullptr);

}  // namespace rho
