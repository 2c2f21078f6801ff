// rho import / rho export: Hugging Face checkpoints (Llama, Mistral, Qwen2) in and out. rho reads HF directories
// directly everywhere a model is taken (--init-from, --model, --ref-model); import makes an fp32
// copy (and checks it completely), export writes what transformers' from_pretrained loads.
#include <cstdio>
#include <filesystem>
#include <optional>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "common/error.h"
#include "common/fileio.h"
#include "model/io.h"
#include "tokenizer/tokenizer.h"

namespace rho::cli {

int64_t parse_size(const std::string& flag, const std::string& s) {
  size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(s, &pos);
  } catch (const std::exception&) {
    fail(flag + ": '" + s + "' is not a size (e.g. 2GB, 500MB, 1GiB)");
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
  if (mult == 0 || !(v >= 0)) fail(flag + ": '" + s + "' is not a size (units: B, KB, MB, GB, KiB, MiB, GiB)");
  return int64_t(v * mult);
}

namespace {

namespace fs = std::filesystem;

// Nothing of the user's is replaced: checked before any model is read.
void refuse_existing(const std::string& out) {
  if (fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out)))
    fail_file(out, "already exists; choose a new --out");
}

using NamedFiles = std::vector<std::pair<std::string, std::string>>;  // (name in the directory, bytes)

// Files of a model directory's tokenizer beside those the copy carries already (the tokenizer
// file and its tokenizer_config.json, TokenizerFiles): Llama 2, Mistral and TinyLlama ship
// tokenizer.json and tokenizer.model both, and special_tokens_map.json, and a copy should load in
// transformers like the original. Nothing when the tokenizer was given by --tokenizer.
NamedFiles other_tokenizer_files(const std::optional<Tokenizer>& tok, bool from_model_dir) {
  NamedFiles files;
  if (!tok || !from_model_dir) return files;
  const fs::path dir = fs::path(tok->path()).parent_path();
  for (const char* name : {"tokenizer.json", "tokenizer.model", "special_tokens_map.json"}) {
    bool carried = false;
    for (const auto& f : tok->files().files) carried |= f.first == name;
    if (!carried && fs::is_regular_file(dir / name)) files.emplace_back(name, read_file((dir / name).string()));
  }
  return files;
}

// What transformers' AutoTokenizer needs beside a tokenizer file that came without a
// tokenizer_config.json (rho's own sentencepiece models): tokenizer_config.json with the class,
// the special tokens, no BOS or EOS added (rho tokenize puts none before a document unless
// --bos, and eval --bos auto reads this field) and, for sentencepiece, whether a space goes
// before the text (rho's tokenizers put none; transformers assumes one unless told); and
// special_tokens_map.json. Nothing when the tokenizer carries its own tokenizer_config.json.
NamedFiles hf_tokenizer_config(const Tokenizer& tok, int64_t max_length) {
  for (const auto& f : tok.files().files)
    if (f.first == "tokenizer_config.json") return {};
  const bool spm = tok.files().tokenizer_name() == "tokenizer.model";
  nlohmann::json special = nlohmann::json::object();
  auto piece = [&](const char* key, int32_t id) { if (id >= 0) special[key] = tok.id_to_piece(id); };
  piece("bos_token", tok.bos_id());
  piece("eos_token", tok.eos_id());
  piece("unk_token", tok.unk_id());
  nlohmann::json config = special;
  config["tokenizer_class"] = spm ? "LlamaTokenizer" : "PreTrainedTokenizerFast";
  config["model_max_length"] = max_length;
  config["clean_up_tokenization_spaces"] = false;
  if (spm) {
    config["add_bos_token"] = false;
    config["add_eos_token"] = false;
    config["add_prefix_space"] = tok.adds_dummy_prefix();
    config["legacy"] = false;
    config["pad_token"] = nullptr;
    config["sp_model_kwargs"] = nlohmann::json::object();
  }
  return {{"tokenizer_config.json", config.dump(2) + "\n"}, {"special_tokens_map.json", special.dump(2) + "\n"}};
}

// Writes a model directory under a temporary sibling name and renames it into place, so `out`
// is either absent or complete. `out` must not exist yet (nothing of the user's is replaced).
// The model's tokenizer files come with it (save_model); `extra` are written beside them.
void write_model_dir(const std::string& out, LlamaForCausalLM& model, const SaveOptions& so, const NamedFiles& extra) {
  refuse_existing(out);
  const std::string tmp = out + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp);
  save_model(tmp, model, so);
  for (const auto& [name, bytes] : extra) write_file_atomic(tmp + "/" + name, bytes);
  std::error_code ec;
  if (fs::exists(out)) fs::remove(out, ec);
  fs::rename(tmp, out, ec);
  if (ec) fail_file(out, "cannot rename the finished directory into place: " + ec.message());
}

// The tokenizer a copy of `dir` carries (--tokenizer, else the one in dir), which becomes the
// copy's tokenizer record and files (model/model_use.h). One that is not the tokenizer `dir`
// records is refused; a model with neither file nor record is refused unless
// `allow_unrecorded`. Nullopt when the copy carries no tokenizer file.
std::optional<Tokenizer> tokenizer_for_copy(const std::string& dir, const std::string& given, LlamaForCausalLM& model,
                                            bool allow_unrecorded) {
  const std::string file = given.empty() ? tokenizer_file_in(dir) : given;
  if (!file.empty()) {
    Tokenizer tok = Tokenizer::load(file);
    const TokenizerId& recorded = model->tokenizer;
    if (recorded.fingerprint != 0 && recorded.fingerprint != tok.fingerprint())
      fail_file(file, "is tokenizer " + hex64(tok.fingerprint()) + ", but " + dir + " was trained with " +
                          hex64(recorded.fingerprint) + " (" + recorded.source + ")");
    model->tokenizer = tok.id();
    return tok;
  }
  if (model->tokenizer.fingerprint == 0) {
    if (!allow_unrecorded)
      fail_file(dir, "carries no tokenizer file and records no tokenizer: pass --tokenizer FILE (the one it was "
                     "trained with), or --allow-unrecorded-tokenizer to copy it without one");
    std::fprintf(stderr, "rho: warning: %s: no tokenizer recorded or carried; --allow-unrecorded-tokenizer: the copy "
                         "records none either, and every command that uses it will need the flag\n", dir.c_str());
  } else {
    std::fprintf(stderr, "rho: warning: %s records tokenizer %s but carries no copy of it, so neither does the copy "
                         "(nor can transformers load a tokenizer from it); pass --tokenizer FILE to include it\n",
                 dir.c_str(), hex64(model->tokenizer.fingerprint).c_str());
  }
  return std::nullopt;
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
      write_model_dir(*out, model, SaveOptions{}, other_tokenizer_files(t, tok->empty()));
      std::fprintf(stderr, "import: %s -> %s (%lld parameters, fp32%s%s)\n", in->c_str(), out->c_str(),
                   (long long)model->config.num_params(), t ? ", tokenizer " : "", t ? t->path().c_str() : "");
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
      so.max_shard_bytes = parse_size("--max-shard-size", *shard);
      refuse_existing(*out);
      auto model = load_model(*in);
      const auto t = tokenizer_for_copy(*in, *tok, model, *allow);
      auto extra = other_tokenizer_files(t, tok->empty());
      if (t)
        for (auto& f : hf_tokenizer_config(*t, model->config.max_position_embeddings)) extra.push_back(std::move(f));
      write_model_dir(*out, model, so, extra);
      std::fprintf(stderr, "export: %s -> %s (%s%s%s%s)\n", in->c_str(), out->c_str(), dtype->c_str(),
                   file_exists(*out + "/model.safetensors.index.json") ? ", sharded" : "",
                   t ? ", tokenizer " : "", t ? t->path().c_str() : "");
    });
  }
}

}  // namespace rho::cli
