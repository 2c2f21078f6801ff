// A reference model with another tokenizer (scoring/cross_tokenizer.h): the bytes each token
// stands for, windows aligned by hand-computed cases, conservation of the losses over real
// windows of two tokenizers, the same tokenizer giving the reference's losses exactly, and what
// is refused (text the shards cannot decode, a reference that cannot encode it, score files of
// another tokenizer's reference).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/fileio.h"
#include "data/shard.h"
#include "scoring/cross_tokenizer.h"
#include "scoring/score_set.h"
#include "test_util.h"
#include "tiny.h"

namespace {

using nlohmann::json;
using rho_test::contains;
using rho_test::error_of;
using rho_test::TempDir;

const std::string kFix = rho_test::fixture_dir() + "/tokenizers";

std::vector<std::string> corpus_texts() {
  std::vector<std::string> out;
  std::istringstream in(rho::read_file(kFix + "/corpus.jsonl"));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line).at("text"));
  return out;
}

std::string bytes_of(const rho::Tokenizer& t, const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += t.token_bytes(id).value_or("<none>");
  return s;
}

// A Llama-2-style tokenizer.json (its HF conversion's pipeline) with a tiny vocabulary: a space
// becomes "\u2581" and one is put before the text, bytes fall back to <0xNN>, and the decoders are
// Replace, ByteFallback, Fuse and Strip.
json llama_style_json() {
  json vocab = json::object();
  vocab["<unk>"] = 0, vocab["<s>"] = 1, vocab["</s>"] = 2;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  const std::vector<std::string> words = {"\u2581", "e", "t", "h", "\u2581t", "he", "\u2581the", "o", "n"};
  for (size_t i = 0; i < words.size(); ++i) vocab[words[i]] = int(259 + i);
  return {
      {"added_tokens",
       {{{"id", 0}, {"content", "<unk>"}, {"special", true}}, {{"id", 1}, {"content", "<s>"}, {"special", true}},
        {{"id", 2}, {"content", "</s>"}, {"special", true}}}},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", "\u2581"}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model",
       {{"type", "BPE"},
        {"byte_fallback", true},
        {"unk_token", "<unk>"},
        {"vocab", vocab},
        {"merges", {"\u2581 t", "h e", "\u2581t he"}}}}};
}

// A plain BPE tokenizer.json over ASCII letters (no normalizer, pre-tokenizer or decoder: a
// token stands for its own text), EOS id `eos` appended by the post-processor.
std::string plain_json(const std::vector<std::string>& tokens, const std::vector<std::string>& merges) {
  json vocab = json::object();
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = int(i);
  const int eos = int(tokens.size());
  return json{{"added_tokens", {{{"id", eos}, {"content", "<eos>"}, {"special", true}}}},
              {"post_processor",
               {{"type", "TemplateProcessing"},
                {"single", {{{"Sequence", {{"id", "A"}, {"type_id", 0}}}}, {{"SpecialToken", {{"id", "<eos>"}, {"type_id", 0}}}}}},
                {"special_tokens", {{"<eos>", {{"id", "<eos>"}, {"ids", {eos}}, {"tokens", {"<eos>"}}}}}}}},
              {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}}
      .dump();
}

rho::Tokenizer load_json(const TempDir& dir, const std::string& name, const std::string& text,
                         const std::string& config = "") {
  std::filesystem::create_directories(dir.path + "/" + name);
  dir.write(name + "/tokenizer.json", text);
  if (!config.empty()) dir.write(name + "/tokenizer_config.json", config);
  return rho::Tokenizer::load(dir.path + "/" + name);
}

// The documents of `texts` as rho tokenize writes them: each one's ids, then EOS.
std::shared_ptr<rho::Shard> shard_of(const TempDir& dir, const rho::Tokenizer& tok, const std::vector<std::string>& texts,
                                     int repeat = 1) {
  std::vector<int32_t> ids;
  for (int r = 0; r < repeat; ++r)
    for (const std::string& t : texts) {
      for (int32_t id : tok.encode(t)) ids.push_back(id);
      ids.push_back(tok.eos_id());
    }
  static int made = 0;
  const std::string path = dir.path + "/shard-" + std::to_string(++made) + ".bin";
  rho_test::write_shard(path, ids, uint32_t(tok.vocab_size()), tok.fingerprint(), uint32_t(tok.eos_id()));
  return rho::Shard::open(path);
}

}  // namespace

TEST(CrossTokenizer, TokenBytesSpellTheTextOfEveryFixtureTokenizer) {
  TempDir dir;
  std::vector<rho::Tokenizer> toks = {rho::Tokenizer::load(kFix + "/rho_bpe.model"),
                                      rho::Tokenizer::load(kFix + "/bpe_nfkc.model"),
                                      rho::Tokenizer::load(kFix + "/unigram_nfkc.model"),
                                      load_json(dir, "llama", llama_style_json().dump())};
  int checked = 0;
  for (const auto& tok : toks) {
    const bool phantom = bytes_of(tok, tok.encode("x")) == " x";
    for (const std::string& text : corpus_texts()) {
      const auto ids = tok.encode(text);
      if (tok.decode(ids) != text) continue;  // a normalizer changed it: nothing to spell back
      EXPECT_EQ(bytes_of(tok, ids), (phantom && !text.empty() ? " " : "") + text) << tok.path() << ": " << text;
      ++checked;
    }
  }
  EXPECT_GT(checked, 80);
  EXPECT_TRUE(bytes_of(toks[3], toks[3].encode("x")) == " x");  // Prepend: a phantom space
  EXPECT_FALSE(bytes_of(toks[0], toks[0].encode("x")) == " x");

  const auto& spm = toks[0];
  EXPECT_EQ(spm.token_bytes(spm.eos_id()), std::nullopt);
  EXPECT_EQ(spm.token_bytes(spm.bos_id()), std::nullopt);
  EXPECT_EQ(spm.token_bytes(spm.unk_id()), std::nullopt);
  // Byte pieces are their byte, even half of a character.
  const auto e_acute = spm.encode("\xC3\xA9");
  if (e_acute.size() == 2) EXPECT_EQ(spm.token_bytes(e_acute[0]), std::string("\xC3"));

  // GPT-2 byte level: a space is "\u0120"; the special token stands for nothing.
  const auto tiny = rho::Tokenizer::load(kFix + "/tiny/tokenizer.json");
  EXPECT_EQ(tiny.token_bytes(3), std::string(" "));
  EXPECT_EQ(tiny.token_bytes(2), std::string("ab"));
  EXPECT_EQ(tiny.token_bytes(5), std::nullopt);
  EXPECT_EQ(bytes_of(tiny, tiny.encode("ab ab c")), "ab ab c");
  EXPECT_EQ(toks[3].token_bytes(0), std::nullopt);  // <unk>, an added special token
}

// Shard "x" "ab" "cd" EOS; the reference reads "abcd" as "a" "bc" "d".
TEST(CrossTokenizer, AStraddlingReferenceTokenSplitsItsLossByBytes) {
  TempDir dir;
  const auto data = load_json(dir, "data", plain_json({"a", "b", "c", "d", "ab", "cd", "x"}, {"a b", "c d"}));
  const auto ref = load_json(dir, "ref", plain_json({"a", "b", "c", "d", "bc", "x"}, {"b c"}));
  const auto shard = shard_of(dir, data, {"xabcd"});
  ASSERT_EQ(data.encode("xabcd"), (std::vector<int32_t>{6, 4, 5}));
  const rho::ByteAligner aligner(data, ref);

  // Window at 0: "x" is context; targets "ab" "cd" EOS.
  auto w = aligner.build(*shard, 0, 3);
  EXPECT_EQ(w.ref_tokens, (std::vector<int32_t>{5, 0, 4, 3, 6}));  // x a bc d EOS
  const float losses[] = {1.0f, 2.0f, 4.0f, 0.5f};                 // a, bc, d, EOS
  float out[3];
  aligner.map_losses(w, losses, out);
  EXPECT_EQ(out[0], 1.0f + 1.0f);  // "ab": all of "a", half of "bc"
  EXPECT_EQ(out[1], 1.0f + 4.0f);  // "cd": half of "bc", all of "d"
  EXPECT_EQ(out[2], 0.5f);         // EOS to EOS

  // Window at 1: "ab" is context, so "bc" gives "cd" only its half.
  w = aligner.build(*shard, 1, 2);
  EXPECT_EQ(w.ref_tokens, (std::vector<int32_t>{0, 4, 3, 6}));  // a bc d EOS
  const float losses1[] = {2.0f, 4.0f, 0.5f};
  float out1[2];
  aligner.map_losses(w, losses1, out1);
  EXPECT_EQ(out1[0], 1.0f + 4.0f);
  EXPECT_EQ(out1[1], 0.5f);
}

// The reference reads "abcd" as "abc" "d": from context "ab", r_0 would cover the target's "c",
// so the context widens back to "x".
TEST(CrossTokenizer, ContextWidensUntilTheFirstReferenceTokenCoversNoTarget) {
  TempDir dir;
  const auto data = load_json(dir, "data", plain_json({"a", "b", "c", "d", "ab", "cd", "x"}, {"a b", "c d"}));
  const auto ref = load_json(dir, "ref", plain_json({"a", "b", "c", "d", "ab", "abc", "x"}, {"a b", "ab c"}));
  const auto shard = shard_of(dir, data, {"xabcd"});
  const rho::ByteAligner aligner(data, ref);
  const auto w = aligner.build(*shard, 1, 2);
  EXPECT_EQ(w.context_start, 0u);
  EXPECT_EQ(w.ref_tokens, (std::vector<int32_t>{6, 5, 3, 7}));  // x abc d EOS
  const float losses[] = {3.0f, 4.0f, 0.5f};
  float out[2];
  aligner.map_losses(w, losses, out);
  EXPECT_EQ(out[0], 1.0f + 4.0f);  // "cd": a third of "abc", all of "d"
  EXPECT_EQ(out[1], 0.5f);

  // At shard position 0 there is nothing to widen to: "ab" bytes inside r_0 get nothing.
  const auto shard0 = shard_of(dir, data, {"abcd"});
  const auto w0 = aligner.build(*shard0, 0, 2);
  EXPECT_EQ(w0.ref_tokens, (std::vector<int32_t>{5, 3, 7}));  // abc d EOS
  const float l0[] = {4.0f, 0.5f};
  aligner.map_losses(w0, l0, out);
  EXPECT_EQ(out[0], 4.0f);  // only "d": the "c" inside r_0 is not predicted
  EXPECT_EQ(out[1], 0.5f);
}

// Real windows, two tokenizers of different vocabularies (one with a phantom space): every
// target byte is predicted, the losses are conserved, and with each reference token's loss its
// byte count, a shard token gets exactly its own byte count.
TEST(CrossTokenizer, LossesAreConservedOverRealWindows) {
  TempDir dir;
  const auto data = rho::Tokenizer::load(kFix + "/rho_bpe.model");
  const auto ref = load_json(dir, "llama", llama_style_json().dump(), R"({"eos_token": "</s>"})");
  std::vector<std::string> texts;
  for (const auto& t : corpus_texts())
    if (data.decode(data.encode(t)) == t && !contains(t, "<s>")) texts.push_back(t);  // HF would read <s> as BOS
  const auto shard = shard_of(dir, data, texts);
  const rho::ByteAligner aligner(data, ref);
  const int64_t T = 16;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> U(0.0f, 5.0f);
  int windows = 0;
  for (uint64_t s = 0; s + uint64_t(T) < shard->size(); s += uint64_t(T), ++windows) {
    const auto w = aligner.build(*shard, s, T);
    const size_t m = w.ref_tokens.size();
    std::vector<float> losses(m - 1), by_bytes(m - 1), out(static_cast<size_t>(T));
    double expect = 0;
    for (size_t j = 1; j < m; ++j) {
      const auto& r = w.spans[j];
      losses[j - 1] = U(rng);
      by_bytes[j - 1] = float(r.end - r.begin);
      int in_targets = 0;
      for (int32_t b = r.begin; b < r.end; ++b) in_targets += w.byte_target[size_t(b)] >= 0;
      if (r.special && r.target >= 0) expect += losses[j - 1];
      if (!r.special && r.end > r.begin) expect += double(losses[j - 1]) * in_targets / (r.end - r.begin);
    }
    aligner.map_losses(w, losses.data(), out.data());
    double got = 0;
    for (float v : out) got += v;
    EXPECT_NEAR(got, expect, 1e-4 * std::max(1.0, expect)) << "window at " << s;

    aligner.map_losses(w, by_bytes.data(), out.data());
    for (int64_t t = 0; t < T; ++t) {
      const int32_t id = shard->token(s + 1 + uint64_t(t));
      const size_t n = id == data.eos_id() ? 0 : data.token_bytes(id)->size();
      EXPECT_EQ(out[size_t(t)], float(n)) << "window at " << s << " target " << t;
    }
  }
  EXPECT_GT(windows, 10);
}

// Byte-fallback tokens split characters: a window may start or end inside one, and the reference
// can only encode whole characters. Every start, so every boundary: each target still gets
// exactly its own bytes (losses equal to byte counts), and nothing is refused.
TEST(CrossTokenizer, WindowsThatCutACharacterAreScoredWhole) {
  TempDir dir;
  const auto data = rho::Tokenizer::load(kFix + "/rho_bpe.model");
  const auto ref = load_json(dir, "llama", llama_style_json().dump(), R"({"eos_token": "</s>"})");
  const std::string text = "ab \xE6\xBC\xA2\xE5\xAD\x97 cd \xF0\x9F\x98\x80 ef \xC3\xA9";  // CJK, an emoji, e-acute
  const auto shard = shard_of(dir, data, {text, text});
  int split = 0;  // byte-fallback tokens that are not a whole character
  for (uint64_t i = 0; i < shard->size(); ++i) {
    const auto b = data.token_bytes(shard->token(i));
    split += b && !b->empty() && (static_cast<unsigned char>((*b)[0]) & 0xC0) == 0x80;
  }
  ASSERT_GT(split, 0) << "the fixture tokenizer spells these characters whole; the test needs byte fallback";
  const rho::ByteAligner aligner(data, ref);
  const int64_t T = 3;
  for (uint64_t s = 0; s + uint64_t(T) < shard->size(); ++s) {
    const auto w = aligner.build(*shard, s, T);
    std::vector<float> by_bytes(w.ref_tokens.size() - 1), out(static_cast<size_t>(T));
    for (size_t j = 1; j < w.spans.size(); ++j) by_bytes[j - 1] = float(w.spans[j].end - w.spans[j].begin);
    aligner.map_losses(w, by_bytes.data(), out.data());
    for (int64_t t = 0; t < T; ++t) {
      const int32_t id = shard->token(s + 1 + uint64_t(t));
      const size_t n = id == data.eos_id() ? 0 : data.token_bytes(id)->size();
      EXPECT_FLOAT_EQ(out[size_t(t)], float(n)) << "window at " << s << " target " << t;
    }
  }
}

// The shards' own tokenizer through the cross path: where re-encoding gives the shard's ids back,
// each target gets its reference loss exactly.
TEST(CrossTokenizer, TheSameTokenizerGivesTheReferenceLossesExactly) {
  TempDir dir;
  const auto tok = rho::Tokenizer::load(kFix + "/rho_bpe.model");
  const auto shard = shard_of(dir, tok, {"the cat sat on the mat", "a dog, two dogs: 123 and 4567", "Hello world"}, 4);
  const rho::ByteAligner aligner(tok, tok);
  const int64_t T = 8;
  int same = 0;
  for (uint64_t s = 0; s + uint64_t(T) < shard->size(); s += uint64_t(T)) {
    const auto w = aligner.build(*shard, s, T);
    std::vector<int32_t> ids;
    for (uint64_t p = w.context_start; p <= s + uint64_t(T); ++p) ids.push_back(shard->token(p));
    if (ids != w.ref_tokens) continue;
    ++same;
    std::vector<float> losses(ids.size() - 1), out(static_cast<size_t>(T));
    for (size_t j = 0; j < losses.size(); ++j) losses[j] = 0.1f + 0.37f * float(j);
    aligner.map_losses(w, losses.data(), out.data());
    const size_t first_target = size_t(s + 1 - w.context_start);  // its index in ids
    for (int64_t t = 0; t < T; ++t) EXPECT_EQ(out[size_t(t)], losses[first_target + size_t(t) - 1]);
  }
  EXPECT_GT(same, 3);
}

TEST(CrossTokenizer, TextTheShardsCannotDecodeIsRefused) {
  TempDir dir;
  const auto tok = rho::Tokenizer::load(kFix + "/rho_bpe.model");
  const rho::ByteAligner aligner(tok, tok);
  std::vector<int32_t> ids = tok.encode("the cat sat");
  ids.insert(ids.begin() + 2, tok.unk_id());
  const std::string path = rho_test::write_shard(dir.path + "/unk.bin", ids, uint32_t(tok.vocab_size()), tok.fingerprint());
  const auto shard = rho::Shard::open(path);
  const std::string msg = error_of([&] { aligner.build(*shard, 0, int64_t(ids.size()) - 1); });
  EXPECT_TRUE(contains(msg, path + ": position 2: token " + std::to_string(tok.unk_id()))) << msg;
  EXPECT_TRUE(contains(msg, "stands for no text")) << msg;
}

TEST(CrossTokenizer, AReferenceThatChangesTheTextIsRefused) {
  TempDir dir;
  const auto data = rho::Tokenizer::load(kFix + "/rho_bpe.model");
  const auto nfkc = rho::Tokenizer::load(kFix + "/bpe_nfkc.model");
  const auto shard = shard_of(dir, data, {"the \xEF\xAC\x81sh (a ligature NFKC rewrites as fi)"});
  const rho::ByteAligner aligner(data, nfkc);
  const std::string msg = error_of([&] { aligner.build(*shard, 0, 8); });
  EXPECT_TRUE(contains(msg, nfkc.path() + ": cannot encode the text of shard " + shard->path() + " window at position 0"))
      << msg;
  EXPECT_TRUE(contains(msg, "stand for other bytes")) << msg;

  // A special token's name in the text: the HF reference reads it as that token, no text.
  const auto llama = load_json(dir, "llama", llama_style_json().dump(), R"({"eos_token": "</s>"})");
  const std::string special_msg = error_of([&] { rho::ByteAligner(data, llama).build(*shard_of(dir, data, {"a <s> b"}), 0, 4); });
  EXPECT_TRUE(contains(special_msg, "becomes token 1 ('<s>'), which stands for no text")) << special_msg;

  // A reference without an EOS cannot stand for the shards' document ends.
  const auto no_eos = load_json(dir, "noeos", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})");
  const std::string eos_msg = error_of([&] { rho::ByteAligner(data, no_eos).build(*shard_of(dir, data, {"a"}), 0, 1); });
  EXPECT_TRUE(contains(eos_msg, "has no EOS token")) << eos_msg;
}

TEST(CrossTokenizer, ScoreSetTakesOnlyTheReferenceTokenizerItExpects) {
  TempDir dir;
  const uint64_t shards_tok = 7;
  const std::string shard = rho_test::write_shard(dir.path + "/shards/s0.bin", std::vector<int32_t>(40, 3), 61, shards_tok);
  const rho::PackedDataset data({shard}, 12);
  rho::ScoreHeader h;
  h.n_scores = 40;
  h.shard_fingerprint = data.shards()[0]->content_fingerprint();
  h.model_fingerprint = 1;
  h.seq_len = 12;
  const std::vector<float> zeros(40, 0.0f);
  const std::string file = rho::score_path_for(dir.path + "/scores", shard);
  rho::make_dirs(dir.path + "/scores");
  auto write = [&](uint64_t ref_tok) {
    h.ref_tokenizer_fingerprint = ref_tok;
    rho::write_score_file(file, h, zeros.data());
  };

  write(0);  // the shards' own tokenizer
  EXPECT_EQ(rho::ScoreFile::open(file)->header().ref_tokenizer_fingerprint, 0u);
  rho::ScoreSet plain(data, dir.path + "/scores");
  std::string msg = error_of([&] { rho::ScoreSet(data, dir.path + "/scores", 0xabc); });
  EXPECT_TRUE(contains(msg, file + ": was scored by a reference with the shards' own tokenizer")) << msg;
  EXPECT_TRUE(contains(msg, rho::hex64(0xabc))) << msg;

  write(0xabc);
  EXPECT_EQ(rho::ScoreFile::open(file)->header().ref_tokenizer_fingerprint, 0xabcu);
  rho::ScoreSet cross(data, dir.path + "/scores", 0xabc);
  msg = error_of([&] { rho::ScoreSet(data, dir.path + "/scores"); });
  EXPECT_TRUE(contains(msg, file + ": was scored by a reference with another tokenizer (fingerprint " + rho::hex64(0xabc) +
                                "); pass --ref-tokenizer"))
      << msg;
  msg = error_of([&] { rho::ScoreSet(data, dir.path + "/scores", 0xdef); });
  EXPECT_TRUE(contains(msg, rho::hex64(0xabc)) && contains(msg, rho::hex64(0xdef))) << msg;

  write(shards_tok);  // a cross run whose reference shares the shards' tokenizer
  rho::ScoreSet same(data, dir.path + "/scores");
}
