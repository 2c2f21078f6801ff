// rho generate: text from prompts, greedy or sampled, with a KV cache (the CLI over
// eval/generation/).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/format_flags.h"
#include "common/error.h"
#include "common/fileio.h"
#include "eval/generation/generate.h"
#include "model/model_use.h"
#include "tokenizer/tokenizer.h"

namespace rho::cli {

void register_generate(CLI::App& app) {
  auto* sub = app.add_subcommand("generate", "Generate text from a prompt, greedy or sampled, with a KV cache (docs/pipeline.md)");
  struct Flags {
    std::string model, tokenizer;
    std::vector<std::string> prompts, prompt_files, stops;
    GenerateOptions g;
    bool no_cache = false, show_prompt = false;
  };
  auto f = std::make_shared<Flags>();
  sub->add_option("--model", f->model, "Model directory")->required();
  sub->add_option("--tokenizer", f->tokenizer, "tokenizer the model was trained with (.model, tokenizer.json or a model directory)")->required();
  auto* p = sub->add_option("--prompt", f->prompts, "Prompt text (\\n decoded; repeat for several prompts)");
  auto* pf = sub->add_option("--prompt-file", f->prompt_files, "File whose whole content is one prompt (repeatable)");
  sub->add_option("--max-new-tokens", f->g.max_new_tokens, "Most new tokens per prompt")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20))->capture_default_str();
  sub->add_option("--temperature", f->g.temperature, "0: greedy; > 0: sample")->check(real_range(0.0, 100.0))->capture_default_str();
  sub->add_option("--top-p", f->g.top_p, "Sampling: nucleus mass kept")->check(unit_fraction())->capture_default_str();
  sub->add_option("--stop", f->stops, "Stop strings (\\n decoded), cut from the output")->expected(1, -1);
  sub->add_option("--seed", f->g.seed, "Sampling seed")->capture_default_str();
  sub->add_option("--batch", f->g.batch_size, "Prompts generated together (left-padded to the longest), up to this many")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 16));
  sub->add_flag_function("--no-eos-stop", [f](int64_t) { f->g.stop_at_eos = false; }, "Keep generating past EOS");
  sub->add_flag("--no-cache", f->no_cache, "Re-run the whole sequence each step (slow; for checking the cache)");
  sub->add_flag("--show-prompt", f->show_prompt, "Print the prompt before its continuation");
  auto run = add_run_flags(sub, {/*head=*/false});
  sub->callback([f, run, p, pf] {
    if (p->count() + pf->count() == 0) fail("give --prompt or --prompt-file");
    start_model_command(*run);
    const Tokenizer tok = Tokenizer::load(f->tokenizer);
    auto model = load_model_for(f->model, {"model", tok.id(), 0, run->allow_unrecorded_tokenizer});
    model->eval();
    prepare_for_inference(*model, run->compute());
    std::vector<std::string> texts;
    for (auto& s : f->prompts) texts.push_back(unescape(s));
    for (auto& file : f->prompt_files) texts.push_back(read_file(file));
    std::vector<std::vector<int32_t>> ids;
    for (auto& t : texts) ids.push_back(tok.encode(t));
    GenerateOptions g = f->g;
    g.use_cache = !f->no_cache;
    for (auto& s : f->stops) g.stop.push_back(unescape(s));
    const auto t0 = std::chrono::steady_clock::now();
    const auto out = generate_batch(model, tok, ids, g);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int64_t new_tokens = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      if (out.size() > 1) std::printf("%s=== %zu ===\n", i ? "\n" : "", i);
      if (f->show_prompt) std::printf("%s", texts[i].c_str());
      std::printf("%s\n", out[i].text.c_str());
      std::fprintf(stderr, "generate: prompt %zu: %lld prompt tokens%s, %zu new, finish: %s\n", i,
                   (long long)out[i].prompt_tokens, out[i].prompt_truncated ? " (start cut)" : "",
                   out[i].tokens.size(), out[i].finish.c_str());
      new_tokens += int64_t(out[i].tokens.size());
    }
    std::fprintf(stderr, "generate: %lld tokens in %s (%.1f tok/s)\n", (long long)new_tokens,
                 format_duration(dt).c_str(), double(new_tokens) / std::max(dt, 1e-9));
  });
}

}  // namespace rho::cli
