// rho tokenizer train|encode|decode, rho tokenize: text and JSONL in, tokenizers and token shards out.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/format_flags.h"
#include "cli/tokenizer_io.h"
#include "common/error.h"
#include "common/fileio.h"
#include "data/documents.h"
#include "data/tokenize.h"
#include "tokenizer/tokenizer.h"

namespace rho::cli {
namespace {

constexpr const char* kTokenizerHelp =
    "tokenizer: a sentencepiece .model, an HF tokenizer.json, or a model directory holding one";
constexpr const char* kInputHelp =
    "text or JSONL (.jsonl/.json) files, plain or compressed (.gz, .zst); directories (every such file "
    "under them) and quoted globs";

void register_tokenizer_train(CLI::App& parent) {
  auto* sub = parent.add_subcommand("train", "Train a BPE tokenizer, byte fallback and digits split (docs/pipeline.md)");
  struct Flags {
    TokenizerTrainOptions opts;
    std::vector<std::string> inputs;
    FormatFlags format;
  };
  auto flags = std::make_shared<Flags>();
  auto& o = flags->opts;
  sub->add_option("--input", flags->inputs, kInputHelp)->required()->expected(1, -1);
  sub->add_option("--out", o.out_model, "tokenizer model to write (PATH.model; PATH.vocab is written beside it)")
      ->required();
  // 256 byte-fallback pieces and unk/bos/eos come first; a few hundred more make a usable vocabulary.
  sub->add_option("--vocab-size", o.vocab_size, "vocabulary size")->required()->check(CLI::Range(260, 1000000));
  sub->add_option("--max-sentences", o.max_sentences, "lines sampled for training")
      ->check(CLI::Range(int64_t(1), int64_t(1'000'000'000)))
      ->capture_default_str();
  sub->add_option("--seed", o.seed, "sampling seed")->capture_default_str();
  flags->format.add_to(sub);
  sub->callback([flags] {
    const DocFormat format = flags->format.format();
    train_tokenizer(flags->opts, [&](const TextEmitter& emit) { for_each_document(flags->inputs, format, emit); });
    const Tokenizer tok = Tokenizer::load(flags->opts.out_model);
    std::printf("wrote %s: %d pieces, fingerprint %s\n", flags->opts.out_model.c_str(), tok.vocab_size(),
                hex64(tok.fingerprint()).c_str());
  });
}

void register_tokenizer_encode(CLI::App& parent) {
  auto* sub = parent.add_subcommand("encode", "Encode texts to token ids (--input FILE), or show one text's pieces (--text) (docs/tokenizers.md)");
  struct Flags {
    std::string tokenizer, text, input, field = "text";
    bool add_special = false;
  };
  auto flags = std::make_shared<Flags>();
  sub->add_option("--tokenizer", flags->tokenizer, kTokenizerHelp)->required();
  auto* input = sub->add_option("--input", flags->input,
                                "JSONL (.jsonl/.json: one object per line) or text (one text per line); "
                                "prints one JSON array of ids per record");
  auto* text = sub->add_option("--text", flags->text, "one text to show as ids and pieces (\\n and \\t are decoded)");
  input->excludes(text);
  sub->add_option("--field", flags->field, "the JSONL field holding the text")->capture_default_str();
  sub->add_flag("--add-special", flags->add_special, "add the BOS/EOS tokens the tokenizer adds to a sequence");
  sub->callback([flags, input, text] {
    if (!*input && !*text) fail("tokenizer encode needs --input FILE or --text TEXT");
    const Tokenizer tok = Tokenizer::load(flags->tokenizer);
    if (*input) return encode_file(tok, flags->input, flags->field, flags->add_special);
    const auto ids = tok.encode(unescape(flags->text), flags->add_special);
    std::string id_line;
    nlohmann::json pieces = nlohmann::json::array();
    for (int32_t id : ids) {
      id_line += (id_line.empty() ? "" : " ") + std::to_string(id);
      pieces.push_back(tok.id_to_piece(id));
    }
    std::printf("%zu tokens\nids: %s\npieces: %s\n", ids.size(), id_line.c_str(),
                pieces.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  });
}

void register_tokenizer_decode(CLI::App& parent) {
  auto* sub = parent.add_subcommand("decode", "decode token ids to text: one JSON array per line in, one JSON string per line out");
  struct Flags {
    std::string tokenizer, input;
  };
  auto flags = std::make_shared<Flags>();
  sub->add_option("--tokenizer", flags->tokenizer, kTokenizerHelp)->required();
  sub->add_option("--input", flags->input, "file of JSON id arrays, one per line")->required();
  sub->callback([flags] { decode_file(Tokenizer::load(flags->tokenizer), flags->input); });
}

}  // namespace

void register_tokenizer(CLI::App& app) {
  auto* sub = app.add_subcommand("tokenizer", "Train a sentencepiece tokenizer; encode or decode with any supported one (docs/tokenizers.md)");
  sub->require_subcommand(1);
  register_tokenizer_train(*sub);
  register_tokenizer_encode(*sub);
  register_tokenizer_decode(*sub);
}

void register_tokenize(CLI::App& app) {
  auto* sub = app.add_subcommand("tokenize", "Turn text or JSONL files into token shards (docs/formats.md)");
  struct Flags {
    TokenizeOptions opts;
    FormatFlags format;
  };
  auto flags = std::make_shared<Flags>();
  auto& o = flags->opts;
  sub->add_option("--tokenizer", o.tokenizer, kTokenizerHelp)->required();
  sub->add_option("--input", o.inputs, kInputHelp)->required()->expected(1, -1);
  sub->add_option("--out-dir", o.out_dir, "directory for the shards")->required();
  sub->add_option("--name", o.name, "shard file prefix: NAME_000000.bin, ...")->capture_default_str();
  sub->add_option("--shard-tokens", o.shard_tokens, "tokens per shard (a shard ends with a whole document)")
      ->check(CLI::Range(uint64_t(1), uint64_t(1) << 40))
      ->capture_default_str();
  sub->add_flag("--bos", o.bos, "put BOS before every document (EOS always follows one)");
  sub->add_option("--threads", o.threads, "encoding threads (0: every core); the shards do not depend on it")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
  flags->format.add_to(sub);
  sub->callback([flags] {
    const TokenizeStats stats = tokenize_to_shards(flags->opts, flags->format.format());
    for (const auto& path : stats.shards) std::printf("%s\n", path.c_str());
  });
}

}  // namespace rho::cli
