// rho import / rho export: Hugging Face checkpoints (Llama, Mistral, Qwen2) in and out. rho reads HF directories
// directly everywhere a model is taken (--init-from, --model, --ref-model); import makes an fp32
// copy (and checks it completely), export writes what transformers' from_pretrained loads.
#include <cstdio>
#include <filesystem>

#include <unistd.h>

#include "cli/commands.h"
#include "common/error.h"
#include "common/fileio.h"
#include "model/io.h"
#include "tokenizer/tokenizer.h"

namespace rho::cli {

namespace {

// "2GB", "500MB", "1GiB", "4096": bytes. UserError on anything else.
int64_t parse_size(const std::string& s) {
  size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(s, &pos);
  } catch (const std::exception&) {
    fail("--max-shard-size: '" + s + "' is not a size (e.g. 2GB, 500MB, 1GiB)");
  }
  const std::string unit = s.substr(pos);
  double mult = 0;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "KB") mult = 1e3;
  else if (unit == "MB") mult = 1e6;
  else if (unit == "GB") mult = 1e9;
  else if (unit == "KiB") mult = 1024.0;
  else if (unit == "MiB") mult = 1024.0 * 1024;
  else if (unit == "GiB") mult = 1024.0 * 1024 * 1024;
  if (mult == 0 || !(v >= 0)) fail("--max-shard-size: '" + s + "' is not a size (units: B, KB, MB, GB, KiB, MiB, GiB)");
  return int64_t(v * mult);
}

namespace fs = std::filesystem;

// Nothing of the user's is replaced: checked before any model is read.
void refuse_existing(const std::string& out) {
  if (fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out)))
    fail_file(out, "already exists; choose a new --out");
}

// The tokenizer files a copy carries, (source path, name in the copy): the recorded tokenizer
// under the name HF looks for, the tokenizer_config.json beside it (BOS/EOS settings, chat
// template) and, when the tokenizer is the model directory's own, its other tokenizer files
// (Llama 2, Mistral and TinyLlama ship tokenizer.json and tokenizer.model both, and
// special_tokens_map.json): a copy that transformers loads like the original.
std::vector<std::pair<std::string, std::string>> tokenizer_files(const std::string& tokenizer, bool from_model_dir) {
  std::vector<std::pair<std::string, std::string>> files;
  if (tokenizer.empty()) return files;
  const bool json = tokenizer.size() >= 5 && tokenizer.compare(tokenizer.size() - 5, 5, ".json") == 0;
  files.emplace_back(tokenizer, json ? "tokenizer.json" : "tokenizer.model");
  const fs::path dir = fs::path(tokenizer).parent_path();
  std::vector<std::string> beside = {"tokenizer_config.json"};
  if (from_model_dir) beside.insert(beside.end(), {"tokenizer.json", "tokenizer.model", "special_tokens_map.json"});
  for (const auto& name : beside) {
    const std::string path = (dir / name).string();
    bool taken = false;
    for (const auto& f : files) taken |= f.second == name;
    if (!taken && fs::is_regular_file(path)) files.emplace_back(path, name);
  }
  return files;
}

// Writes a model directory under a temporary sibling name and renames it into place, so `out`
// is either absent or complete. `out` must not exist yet (nothing of the user's is replaced).
void write_model_dir(const std::string& out, LlamaForCausalLM& model, const SaveOptions& so,
                     const std::vector<std::pair<std::string, std::string>>& tokenizer_files) {
  refuse_existing(out);
  const std::string tmp = out + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp);
  save_model(tmp, model, so);
  for (const auto& [from, name] : tokenizer_files) write_file_atomic(tmp + "/" + name, read_file(from));
  std::error_code ec;
  if (fs::exists(out)) fs::remove(out, ec);
  fs::rename(tmp, out, ec);
  if (ec) fail_file(out, "cannot rename the finished directory into place: " + ec.message());
}

// The tokenizer file a copy of `dir` carries (--tokenizer, else the one in dir), which becomes the
// copy's tokenizer record (model/model_use.h). One that is not the tokenizer `dir` records is
// refused; a model with neither file nor record is refused unless `allow_unrecorded`.
std::string tokenizer_for_copy(const std::string& dir, const std::string& given, LlamaForCausalLM& model,
                               bool allow_unrecorded) {
  const std::string file = given.empty() ? tokenizer_file_in(dir) : given;
  if (!file.empty()) {
    const Tokenizer tok = Tokenizer::load(file);
    const TokenizerId& recorded = model->tokenizer;
    if (recorded.fingerprint != 0 && recorded.fingerprint != tok.fingerprint())
      fail_file(file, "is tokenizer " + hex64(tok.fingerprint()) + ", but " + dir + " was trained with " +
                          hex64(recorded.fingerprint) + " (" + recorded.source + ")");
    model->tokenizer = tok.id();
    return file;
  }
  if (model->tokenizer.fingerprint == 0) {
    if (!allow_unrecorded)
      fail_file(dir, "carries no tokenizer file and records no tokenizer: pass --tokenizer FILE (the one it was "
                     "trained with), or --allow-unrecorded-tokenizer to copy it without one");
    std::fprintf(stderr, "rho: warning: %s: no tokenizer recorded or carried; --allow-unrecorded-tokenizer: the copy "
                         "records none either, and every command that uses it will need the flag\n", dir.c_str());
  }
  return "";
}

}  // namespace

void register_hf(CLI::App& app) {
  {
    auto* sub = app.add_subcommand("import", "Copy a Hugging Face checkpoint (Llama, Mistral, Qwen2) into an fp32 rho model directory (docs/hf.md)");
    auto in = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    auto tok = std::make_shared<std::string>();
    auto allow = std::make_shared<bool>(false);
    sub->add_option("dir", *in, "HF model directory (config.json, model.safetensors or shards + index)")->required();
    sub->add_option("--out", *out, "New rho model directory")->required();
    sub->add_option("--tokenizer", *tok, "Tokenizer file to include and record (default: the one in dir)");
    sub->add_flag("--allow-unrecorded-tokenizer", *allow, "Import a model with no tokenizer (with a warning)");
    sub->callback([in, out, tok, allow] {
      refuse_existing(*out);
      auto model = load_model(*in);
      const auto t = tokenizer_for_copy(*in, *tok, model, *allow);
      write_model_dir(*out, model, SaveOptions{}, tokenizer_files(t, tok->empty()));
      std::fprintf(stderr, "import: %s -> %s (%lld parameters, fp32%s%s)\n", in->c_str(), out->c_str(),
                   (long long)model->config.num_params(), t.empty() ? "" : ", tokenizer ", t.c_str());
    });
  }
  {
    auto* sub = app.add_subcommand("export", "Write a model directory in Hugging Face layout, for transformers (docs/hf.md)");
    auto in = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    auto tok = std::make_shared<std::string>();
    auto dtype = std::make_shared<std::string>("fp32");
    auto shard = std::make_shared<std::string>("0");
    sub->add_option("dir", *in, "rho (or HF) model directory")->required();
    sub->add_option("--out", *out, "New HF model directory")->required();
    sub->add_option("--dtype", *dtype, "Weight dtype: fp32, fp16 or bf16");
    sub->add_option("--max-shard-size", *shard, "Shard the weights above this size, e.g. 2GB (0: one file)");
    sub->add_option("--tokenizer", *tok, "Tokenizer file to include (default: the one in dir, if any)");
    auto allow = std::make_shared<bool>(false);
    sub->add_flag("--allow-unrecorded-tokenizer", *allow, "Export a model with no tokenizer (with a warning)");
    sub->callback([in, out, tok, dtype, shard, allow] {
      SaveOptions so;
      so.dtype = parse_weight_dtype(*dtype);
      so.max_shard_bytes = parse_size(*shard);
      refuse_existing(*out);
      auto model = load_model(*in);
      const auto t = tokenizer_for_copy(*in, *tok, model, *allow);
      write_model_dir(*out, model, so, tokenizer_files(t, tok->empty()));
      std::fprintf(stderr, "export: %s -> %s (%s%s%s%s)\n", in->c_str(), out->c_str(), dtype->c_str(),
                   file_exists(*out + "/model.safetensors.index.json") ? ", sharded" : "",
                   t.empty() ? "" : ", tokenizer ", t.c_str());
    });
  }
}

}  // namespace rho::cli
