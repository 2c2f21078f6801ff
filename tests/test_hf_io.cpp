// Hugging Face checkpoints in and out: a sharded bf16 HF-layout fixture (made by
// tests/fixtures/make_hf_checkpoint_fixture.py with Debian's python3-torch) loads and gives the
// fixture's logits; export then import is bit-identical; a lying index or malformed bytes give
// a UserError naming the file, never a crash (property tests over random corruptions).
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <set>

#include "common/error.h"
#include "common/fileio.h"
#include "model/io.h"
#include "model/safetensors.h"
#include "test_util.h"
#include "tiny.h"

namespace {

const std::string kHfDir = rho_test::fixture_dir() + "/hf_sharded";

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

rho::LlamaForCausalLM random_model(bool tied = false) {
  return rho_test::tiny_model(97, 7, {}, tied);
}

void copy_dir(const std::string& from, const std::string& to) {
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
}

// The error message of `fn`, or "" when it did not throw a UserError.
template <class F>
std::string user_error(F fn) {
  try {
    fn();
  } catch (const rho::UserError& e) {
    return e.what();
  }
  return "";
}

TEST(HfImport, ShardedBf16CheckpointGivesTheFixtureLogits) {
  auto model = rho::load_model(kHfDir);
  EXPECT_EQ(model->config.rope_theta, 500000.0);  // from the nested rope_parameters
  EXPECT_EQ(model->config.rms_norm_eps, 1e-6);
  auto expected = rho::load_safetensors(kHfDir + "/expected.safetensors");
  torch::NoGradGuard ng;
  auto logits = model->forward(expected.tensors.at("input_ids"));  // (B, T, V)
  // The weights are bf16 on both sides; rho computes in fp32, the reference in float64.
  const double err = max_abs_diff(logits, expected.tensors.at("logits"));
  EXPECT_LT(err, 1e-4);
  std::printf("HF sharded bf16 fixture: max abs logit error %.3g\n", err);
}

TEST(HfImport, ExportThenImportIsBitIdenticalSingleAndSharded) {
  rho_test::TempDir tmp;
  auto model = random_model();
  for (int64_t shard_bytes : {int64_t(0), int64_t(20000)}) {
    const std::string dir = tmp.path + "/m" + std::to_string(shard_bytes);
    rho::save_model(dir, model, rho::SaveOptions{torch::kFloat, shard_bytes});
    EXPECT_EQ(rho::file_exists(dir + "/model.safetensors.index.json"), shard_bytes > 0);
    EXPECT_EQ(rho::file_exists(dir + "/model.safetensors"), shard_bytes == 0);
    if (shard_bytes > 0) {
      auto index = nlohmann::json::parse(rho::read_file(dir + "/model.safetensors.index.json"));
      std::set<std::string> files;
      for (auto& [name, file] : index["weight_map"].items()) files.insert(file.get<std::string>());
      EXPECT_GE(files.size(), 3u);
      for (auto& f : files) EXPECT_TRUE(rho::file_exists(dir + "/" + f)) << f;
      EXPECT_EQ(index["weight_map"].size(), model->named_parameters().size());
    }
    auto back = rho::load_model(dir);
    auto a = model->named_parameters(), b = back->named_parameters();
    ASSERT_EQ(a.size(), b.size());
    for (auto& p : a) EXPECT_TRUE(torch::equal(p.value(), b[p.key()])) << p.key() << " shards " << shard_bytes;
  }
}

TEST(HfImport, HalfPrecisionExportRoundsOnceAndReloadsExactly) {
  rho_test::TempDir tmp;
  auto model = random_model(/*tied=*/true);
  for (auto dt : {torch::kBFloat16, torch::kHalf}) {
    const std::string dir = tmp.path + "/" + std::string(c10::toString(dt));
    rho::save_model(dir, model, rho::SaveOptions{dt, 30000});
    auto cfg = nlohmann::json::parse(rho::read_file(dir + "/config.json"));
    EXPECT_EQ(cfg["torch_dtype"], dt == torch::kBFloat16 ? "bfloat16" : "float16");
    auto back = rho::load_model(dir);
    for (auto& p : model->named_parameters())
      EXPECT_TRUE(torch::equal(p.value().to(dt).to(torch::kFloat), back->named_parameters()[p.key()])) << p.key();
    // Stored in the requested dtype, not converted back to fp32 on disk.
    auto w = rho::load_weights(dir);
    EXPECT_EQ(w.at("model.norm.weight").scalar_type(), dt);
  }
}

// A tied model's tensors as (name, tensor) pairs, with `head` (if given) stored as lm_head.weight
// and the embedding table left out when `drop_embedding`.
std::vector<std::pair<std::string, torch::Tensor>> tied_tensors(rho::LlamaForCausalLM& model, const torch::Tensor& head,
                                                                bool drop_embedding) {
  std::vector<std::pair<std::string, torch::Tensor>> ts;
  for (auto& p : model->named_parameters())
    if (!(drop_embedding && p.key() == "model.embed_tokens.weight")) ts.emplace_back(p.key(), p.value().detach());
  if (head.defined()) ts.emplace_back("lm_head.weight", head);
  return ts;
}

void write_single(const std::string& dir, rho::LlamaForCausalLM& model,
                  const std::vector<std::pair<std::string, torch::Tensor>>& ts,
                  const std::map<std::string, std::string>& meta = {}) {
  rho::make_dirs(dir);
  rho::save_safetensors(dir + "/model.safetensors", ts, meta);
  rho::write_file_atomic(dir + "/config.json", rho::to_json(model->config).dump());
}

torch::Tensor logits_of(rho::LlamaForCausalLM model) {  // a module holder: shares the module
  torch::NoGradGuard ng;
  const auto ids = torch::arange(0, 40, torch::kLong).remainder(model->config.vocab_size).view({2, 20});
  return model->forward(ids);
}

TEST(HfImport, TiedCheckpointThatAlsoStoresTheHeadLoads) {
  rho_test::TempDir tmp;
  auto model = random_model(/*tied=*/true);
  const auto emb = model->named_parameters()["model.embed_tokens.weight"].detach();
  write_single(tmp.path + "/m", model, tied_tensors(model, emb.clone(), false));
  auto back = rho::load_model(tmp.path + "/m");
  EXPECT_TRUE(torch::equal(back->named_parameters()["model.embed_tokens.weight"], emb));
  EXPECT_TRUE(torch::equal(logits_of(back), logits_of(model)));

  // A head that is not the embedding contradicts the config's tie: refused, naming the file.
  write_single(tmp.path + "/differs", model, tied_tensors(model, emb + 1, false));
  const auto msg = user_error([&] { rho::load_model(tmp.path + "/differs"); });
  EXPECT_EQ(msg.rfind(tmp.path + "/differs/model.safetensors: stores lm_head.weight and model.embed_tokens.weight "
                                 "with different values", 0), 0u) << msg;
}

// safetensors.torch.save_model drops the tied pair's second name (sorted: model.embed_tokens.weight)
// and records it in __metadata__ as an alias of the one kept: {"model.embed_tokens.weight":
// "lm_head.weight"}. transformers loads such a file; so does rho, with the same logits as the
// normally written model (single file, and sharded with the index listing the kept name only).
TEST(HfImport, TiedCheckpointWrittenBySafetensorsSaveModelLoads) {
  rho_test::TempDir tmp;
  auto model = random_model(/*tied=*/true);
  rho::save_model(tmp.path + "/normal", model);
  const auto reference = logits_of(model);
  EXPECT_TRUE(torch::equal(logits_of(rho::load_model(tmp.path + "/normal")), reference));

  const auto emb = model->named_parameters()["model.embed_tokens.weight"].detach();
  const auto ts = tied_tensors(model, emb, /*drop_embedding=*/true);
  const std::map<std::string, std::string> alias{{"model.embed_tokens.weight", "lm_head.weight"}};
  write_single(tmp.path + "/save_model", model, ts, alias);
  EXPECT_EQ(rho::load_weights(tmp.path + "/save_model").count("model.embed_tokens.weight"), 1u);
  EXPECT_TRUE(torch::equal(logits_of(rho::load_model(tmp.path + "/save_model")), reference));

  // Sharded: lm_head.weight (with the alias metadata) alone in the first shard.
  const std::string dir = tmp.path + "/sharded";
  rho::make_dirs(dir);
  nlohmann::json index = {{"metadata", nlohmann::json::object()}, {"weight_map", nlohmann::json::object()}};
  std::vector<std::pair<std::string, torch::Tensor>> rest;
  for (auto& t : ts) {
    if (t.first != "lm_head.weight") rest.push_back(t);
    index["weight_map"][t.first] = t.first == "lm_head.weight" ? "model-00001-of-00002.safetensors"
                                                               : "model-00002-of-00002.safetensors";
  }
  rho::save_safetensors(dir + "/model-00001-of-00002.safetensors", {ts.back()}, alias);
  rho::save_safetensors(dir + "/model-00002-of-00002.safetensors", rest);
  rho::write_file_atomic(dir + "/model.safetensors.index.json", index.dump());
  rho::write_file_atomic(dir + "/config.json", rho::to_json(model->config).dump());
  EXPECT_TRUE(torch::equal(logits_of(rho::load_model(dir)), reference));

  // Neither name stored: the message names both.
  write_single(tmp.path + "/none", model, ts.size() > 1 ? decltype(ts)(ts.begin(), ts.end() - 1) : ts);
  const auto msg = user_error([&] { rho::load_model(tmp.path + "/none"); });
  EXPECT_NE(msg.find("missing tensor 'model.embed_tokens.weight' (nor lm_head.weight, its tied name)"),
            std::string::npos) << msg;
}

TEST(HfImport, LyingIndexIsRefusedNamingTheFile) {
  rho_test::TempDir tmp;
  auto edit_index = [&](const std::string& name, auto edit) {
    const std::string dir = tmp.path + "/" + name;
    copy_dir(kHfDir, dir);
    auto j = nlohmann::json::parse(rho::read_file(dir + "/model.safetensors.index.json"));
    edit(j, dir);
    rho::write_file_atomic(dir + "/model.safetensors.index.json", j.dump());
    return user_error([&] { rho::load_model(dir); });
  };
  auto msg = edit_index("missing_shard", [](nlohmann::json& j, const std::string& dir) {
    std::filesystem::remove(dir + "/model-00002-of-00002.safetensors");
  });
  EXPECT_NE(msg.find("model-00002-of-00002.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;

  msg = edit_index("wrong_shard", [](nlohmann::json& j, const std::string&) {
    j["weight_map"]["model.norm.weight"] = "model-00001-of-00002.safetensors";
  });
  EXPECT_NE(msg.find("lacks tensor 'model.norm.weight'"), std::string::npos) << msg;

  msg = edit_index("escape", [](nlohmann::json& j, const std::string&) {
    j["weight_map"]["model.norm.weight"] = "../../etc/passwd";
  });
  EXPECT_NE(msg.find("not a file in the directory"), std::string::npos) << msg;

  msg = edit_index("dropped", [](nlohmann::json& j, const std::string&) { j["weight_map"].erase("lm_head.weight"); });
  EXPECT_NE(msg.find("missing tensor 'lm_head.weight'"), std::string::npos) << msg;

  msg = edit_index("not_object", [](nlohmann::json& j, const std::string&) { j["weight_map"] = 3; });
  EXPECT_NE(msg.find("weight_map"), std::string::npos) << msg;

  const std::string dir = tmp.path + "/bad_json";
  copy_dir(kHfDir, dir);
  rho::write_file_atomic(dir + "/model.safetensors.index.json", "{\"weight_map\": ");
  msg = user_error([&] { rho::load_model(dir); });
  EXPECT_NE(msg.find("model.safetensors.index.json: invalid JSON"), std::string::npos) << msg;
}

// Property test: any corruption of a valid safetensors file (byte flips anywhere, in the
// header especially; truncation; growth) either parses or gives a UserError naming the file.
// Run under AddressSanitizer this also proves nothing is read out of bounds.
TEST(SafetensorsProperty, RandomCorruptionsNeverCrash) {
  auto model = random_model();
  rho_test::TempDir tmp;
  std::vector<std::pair<std::string, torch::Tensor>> ts;
  int i = 0;
  for (auto& p : model->named_parameters())
    if (i++ < 4) ts.emplace_back(p.key(), p.value().detach().slice(0, 0, 3));
  rho::save_safetensors(tmp.path + "/ok.safetensors", ts);
  const std::string good = rho::read_file(tmp.path + "/ok.safetensors");
  uint64_t header_len = 0;
  std::memcpy(&header_len, good.data(), 8);
  std::mt19937_64 rng(20261126);
  const std::string json_chars = "{}[],:\"0123456789-eE.FIUBOL_ ";
  int parsed = 0, refused = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bytes = good;
    const int kind = int(rng() % 4);
    if (kind == 0) {  // flip bytes inside the header: the JSON, its numbers and names
      for (int f = 0; f < 1 + int(rng() % 4); ++f)
        bytes[8 + rng() % header_len] = json_chars[rng() % json_chars.size()];
    } else if (kind == 1) {  // the length prefix lies
      const uint64_t v = (rng() % 2) ? rng() : header_len + (rng() % 64) - 32;
      std::memcpy(bytes.data(), &v, 8);
    } else if (kind == 2) {  // truncated anywhere
      bytes.resize(rng() % bytes.size());
    } else {  // random bytes anywhere
      for (int f = 0; f < 1 + int(rng() % 8); ++f) bytes[rng() % bytes.size()] = char(rng());
    }
    try {
      auto f = rho::parse_safetensors(bytes, "case.safetensors");
      for (auto& [n, t] : f.tensors) (void)t.sum();  // touch every byte it claims to hold
      ++parsed;
    } catch (const rho::UserError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("case.safetensors", 0), 0u) << e.what();
      ++refused;
    }
  }
  EXPECT_GT(refused, 1000);  // the corruptions do reach the checks
  std::printf("safetensors corruptions: %d parsed, %d refused, 0 crashes\n", parsed, refused);
}

// Property test for config.json: random edits of a valid config parse, or are refused with
// the file named; a config that parses always validates (no zero or negative dimensions).
TEST(ConfigProperty, RandomEditsAreRefusedOrValid) {
  const std::string good = rho::read_file(kHfDir + "/config.json");
  std::mt19937_64 rng(7);
  const std::string chars = "{}[],:\"0123456789-.e truefalsn";
  int parsed = 0, refused = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string s = good;
    for (int f = 0; f < 1 + int(rng() % 3); ++f) s[rng() % s.size()] = chars[rng() % chars.size()];
    try {
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(s);
      } catch (const nlohmann::json::exception&) {
        ++refused;
        continue;
      }
      auto c = rho::config_from_json(j, "config.json");
      c.validate("config.json");
      EXPECT_GT(c.head_dim(), 0);
      EXPECT_EQ(c.head_dim() % 2, 0);
      if (c.explicit_head_dim == 0) EXPECT_EQ(c.hidden_size % c.num_attention_heads, 0);
      ++parsed;
    } catch (const rho::UserError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("config.json", 0), 0u) << e.what();
      ++refused;
    }
  }
  EXPECT_GT(parsed, 100);
  EXPECT_GT(refused, 100);
  std::printf("config edits: %d parsed and valid, %d refused\n", parsed, refused);
}

}  // namespace
