#include "model/io.h"

#include <cstdio>
#include <set>

#include "common/error.h"
#include "common/fileio.h"
#include "model/safetensors.h"

namespace rho {

namespace {
const char* kSingle = "model.safetensors";
const char* kIndex = "model.safetensors.index.json";
const char* kRecord = "rho.json";

std::string hf_dtype_name(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat: return "float32";
    case torch::kHalf: return "float16";
    case torch::kBFloat16: return "bfloat16";
    default: fail("weights can be saved as float32, float16 or bfloat16 only");
  }
}

std::string shard_name(size_t i, size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return buf;
}
}  // namespace

torch::ScalarType parse_weight_dtype(const std::string& s) {
  if (s == "F32" || s == "fp32" || s == "float32") return torch::kFloat;
  if (s == "F16" || s == "fp16" || s == "float16") return torch::kHalf;
  if (s == "BF16" || s == "bf16" || s == "bfloat16") return torch::kBFloat16;
  fail("unknown weight dtype '" + s + "' (known: fp32, fp16, bf16)");
}

namespace {
const char* kEmbed = "model.embed_tokens.weight";
const char* kHead = "lm_head.weight";

// The stored tensor for parameter `name`, or nullptr. A tied model's one table may be stored
// under either name: transformers keeps model.embed_tokens.weight, safetensors' save_model keeps
// lm_head.weight (naming the other as its alias). Stored under both, the two must be equal.
const torch::Tensor* stored_tensor(const std::map<std::string, torch::Tensor>& tensors, const std::string& name,
                                   bool tied, const std::string& where) {
  const auto it = tensors.find(name);
  if (!tied || name != kEmbed) return it == tensors.end() ? nullptr : &it->second;
  const auto head = tensors.find(kHead);
  if (it == tensors.end()) return head == tensors.end() ? nullptr : &head->second;
  const auto same = [&] { return head->second.sizes() == it->second.sizes() && torch::equal(head->second.to(it->second.scalar_type()), it->second); };
  if (head != tensors.end() && !same())
    fail_file(where, std::string("stores ") + kHead + " and " + kEmbed +
                         " with different values, but config.json ties them (tie_word_embeddings: true)");
  return &it->second;
}
}  // namespace

void assign_parameters(LlamaForCausalLM& model, const std::map<std::string, torch::Tensor>& tensors,
                       const std::string& where, const std::vector<std::string>& ignore_prefixes) {
  torch::NoGradGuard no_grad;
  auto params = model->named_parameters();
  const bool tied = model->config.tie_word_embeddings;
  for (auto& p : params) {
    const torch::Tensor* t = stored_tensor(tensors, p.key(), tied, where);
    if (!t) {
      const std::string tied_name = tied && p.key() == kEmbed ? std::string(" (nor ") + kHead + ", its tied name)" : "";
      fail_file(where, "missing tensor '" + p.key() + "'" + tied_name);
    }
    if (t->sizes() != p.value().sizes()) {
      std::ostringstream s;
      s << "tensor '" << p.key() << "' has shape " << t->sizes() << ", the model needs " << p.value().sizes();
      fail_file(where, s.str());
    }
    p.value().copy_(t->to(p.value().scalar_type()));
  }
  for (auto& [name, t] : tensors) {
    if (params.contains(name)) continue;
    bool ignored = false;
    for (auto& pre : ignore_prefixes) ignored |= name.rfind(pre, 0) == 0;
    // HF writes rotary inv_freq buffers in some versions: derived state, safe to skip. A tied
    // head's table, stored as lm_head.weight, was read above as the embedding.
    ignored |= name.find("rotary_emb.inv_freq") != std::string::npos;
    ignored |= tied && name == kHead;
    if (!ignored) fail_file(where, "unexpected tensor '" + name + "' (not a parameter of this config)");
  }
}

void save_model(const std::string& dir, LlamaForCausalLM& model, const SaveOptions& opts) {
  make_dirs(dir);
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  int64_t total = 0;
  for (auto& p : model->named_parameters()) {
    tensors.emplace_back(p.key(), p.value().detach().to(torch::kCPU, opts.dtype).contiguous());
    total += tensors.back().second.numel() * int64_t(tensors.back().second.element_size());
  }
  auto config = to_json(model->config);
  config["torch_dtype"] = hf_dtype_name(opts.dtype);
  const std::map<std::string, std::string> meta{{"format", "pt"}};
  if (opts.max_shard_bytes <= 0 || total <= opts.max_shard_bytes) {
    save_safetensors(dir + "/" + kSingle, tensors, meta);
    remove_file_if_exists(dir + "/" + kIndex);
  } else {
    // Greedy packing in parameter order, as HF's save_pretrained does; a tensor larger than the
    // limit gets a shard of its own.
    std::vector<std::vector<std::pair<std::string, torch::Tensor>>> shards(1);
    int64_t in_shard = 0;
    for (auto& t : tensors) {
      const int64_t bytes = t.second.numel() * int64_t(t.second.element_size());
      if (in_shard > 0 && in_shard + bytes > opts.max_shard_bytes) {
        shards.emplace_back();
        in_shard = 0;
      }
      shards.back().push_back(t);
      in_shard += bytes;
    }
    nlohmann::json weight_map = nlohmann::json::object();
    for (size_t i = 0; i < shards.size(); ++i) {
      const std::string name = shard_name(i, shards.size());
      save_safetensors(dir + "/" + name, shards[i], meta);
      for (auto& t : shards[i]) weight_map[t.first] = name;
    }
    nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    write_file_atomic(dir + "/" + kIndex, index.dump(2) + "\n");
    remove_file_if_exists(dir + "/" + kSingle);
  }
  write_file_atomic(dir + "/config.json", config.dump(2) + "\n");
  save_tokenizer(dir, model->tokenizer);
}

void save_tokenizer(const std::string& dir, const TokenizerId& tok) {
  if (tok.files && tok.files->fingerprint != tok.fingerprint)
    fail("internal: the tokenizer files carried for " + hex64(tok.fingerprint) + " are tokenizer " +
         hex64(tok.files->fingerprint));
  (tok.files ? *tok.files : TokenizerFiles{}).write_to(dir);  // none: tokenizer files left in dir go
  if (tok.fingerprint == 0) {
    remove_file_if_exists(dir + "/" + kRecord);
  } else {
    const nlohmann::json record = {
        {"tokenizer", {{"fingerprint", hex64(tok.fingerprint)}, {"vocab_size", tok.vocab_size}, {"source", tok.source}}}};
    write_file_atomic(dir + "/" + kRecord, record.dump(2) + "\n");
  }
}

namespace {
TokenizerId parse_tokenizer_record(const std::string& path) {
  TokenizerId id;
  const auto j = nlohmann::json::parse(read_file(path), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("tokenizer") || !j["tokenizer"].is_object())
    fail_file(path, "not a rho model record (no \"tokenizer\" object)");
  const auto& t = j["tokenizer"];
  const std::string fp = t.contains("fingerprint") && t["fingerprint"].is_string() ? t["fingerprint"].get<std::string>() : "";
  if (fp.size() != 16 || fp.find_first_not_of("0123456789abcdef") != std::string::npos)
    fail_file(path, "tokenizer.fingerprint must be 16 lowercase hex digits");
  id.fingerprint = std::stoull(fp, nullptr, 16);
  if (t.contains("vocab_size")) {
    if (!t["vocab_size"].is_number_integer() || t["vocab_size"].get<int64_t>() < 0)
      fail_file(path, "tokenizer.vocab_size must be a non-negative integer");
    id.vocab_size = t["vocab_size"].get<int64_t>();
  }
  id.source = t.contains("source") && t["source"].is_string() ? t["source"].get<std::string>() : path;
  return id;
}
}  // namespace

TokenizerId read_tokenizer_record(const std::string& dir) {
  const std::string path = dir + "/" + kRecord;
  const std::string file = tokenizer_file_in(dir);
  const auto files = file.empty() ? nullptr : read_tokenizer_files(file);
  if (!file_exists(path)) return files ? TokenizerId{files->fingerprint, 0, file, files} : TokenizerId{};
  TokenizerId id = parse_tokenizer_record(path);
  if (files && files->fingerprint == id.fingerprint) id.files = files;  // else the record stands alone
  return id;
}

std::map<std::string, torch::Tensor> load_weights(const std::string& dir) {
  const std::string index_path = dir + "/" + kIndex;
  if (!file_exists(index_path)) {
    const std::string single = dir + "/" + kSingle;
    if (!file_exists(single)) {
      if (file_exists(dir + "/pytorch_model.bin"))
        fail_file(dir, "holds pytorch_model.bin only; rho reads safetensors (convert with transformers: "
                       "save_pretrained(..., safe_serialization=True))");
      fail_file(single, "not found (a model directory needs model.safetensors or " + std::string(kIndex) + ")");
    }
    auto file = load_safetensors(single);
    for (auto& [alias, kept] : tensor_aliases(file)) file.tensors.emplace(alias, file.tensors.at(kept));
    return file.tensors;
  }
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(read_file(index_path));
  } catch (const nlohmann::json::exception& e) {
    fail_file(index_path, std::string("invalid JSON: ") + e.what());
  }
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    fail_file(index_path, "no \"weight_map\" object");
  std::map<std::string, std::set<std::string>> by_file;  // shard -> tensor names it must hold
  for (auto& [name, file] : index["weight_map"].items()) {
    if (!file.is_string()) fail_file(index_path, "weight_map[\"" + name + "\"] is not a file name");
    const auto f = file.get<std::string>();
    if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..")
      fail_file(index_path, "weight_map[\"" + name + "\"] names '" + f + "', not a file in the directory");
    by_file[f].insert(name);
  }
  if (by_file.empty()) fail_file(index_path, "weight_map is empty");
  std::map<std::string, torch::Tensor> all, aliased;
  for (auto& [file, names] : by_file) {
    const std::string path = dir + "/" + file;
    if (!file_exists(path)) fail_file(index_path, "lists shard '" + file + "', which does not exist");
    auto shard = load_safetensors(path);
    const auto aliases = tensor_aliases(shard);
    for (auto& n : names)
      if (!shard.tensors.count(n) && !aliases.count(n))
        fail_file(path, "lacks tensor '" + n + "' that " + kIndex + " places in it");
    for (auto& [n, t] : shard.tensors)
      if (names.count(n)) all.emplace(n, t);  // HF ignores tensors the index does not list; so do we
    for (auto& [alias, kept] : aliases)
      if (names.count(kept) || names.count(alias)) aliased.emplace(alias, shard.tensors.at(kept));
  }
  all.merge(aliased);  // a name stored as a tensor wins over the same name as an alias
  return all;
}

LlamaForCausalLM load_model(const std::string& dir) {
  if (!file_exists(dir)) fail_file(dir, "model directory does not exist");
  auto config = load_config(dir + "/config.json");
  LlamaForCausalLM model(config);
  const std::string where = file_exists(dir + "/" + kIndex) ? dir + "/" + kIndex : dir + "/" + kSingle;
  assign_parameters(model, load_weights(dir), where);
  model->tokenizer = read_tokenizer_record(dir);
  return model;
}

}  // namespace rho
