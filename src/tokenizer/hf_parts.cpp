#include "tokenizer/hf_parts.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <unordered_map>

#include "common/error.h"
#include "tokenizer/unicode.h"

namespace rho::tok {
namespace {

using nlohmann::json;

std::string type_of(const json& j) { return j.is_object() && j.contains("type") ? j["type"].get<std::string>() : "?"; }

// The character ending just before `end` (its code point), for HF's \w and \s checks.
int32_t char_before(std::string_view s, size_t end, size_t* start) {
  size_t b = end - 1;
  while (b > 0 && end - b < 4 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
  size_t len = 0;
  int32_t cp = unicode::decode(s, b, &len);
  if (b + len != end) b = end - 1, cp = unicode::kInvalidCodepoint;  // a stray continuation byte
  *start = b;
  return cp;
}

bool is_space(int32_t cp) { return unicode::classify(cp) == unicode::Cls::kSpace; }

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty() || s.find(from) == std::string::npos) return;
  std::string out;
  size_t i = 0;
  for (size_t hit; (hit = s.find(from, i)) != std::string::npos; i = hit + from.size())
    out.append(s, i, hit - i).append(to);
  out.append(s, i, std::string::npos);
  s = std::move(out);
}

std::string string_pattern(const std::string& path, const json& j, const std::string& what) {
  const json& p = j.at("pattern");
  if (p.contains("String")) return p["String"].get<std::string>();
  fail_file(path, what + " with a regex pattern is not supported (only a plain string)");
}

// GPT-2's byte-to-character table (bytes_to_unicode): printable bytes stand for themselves, the
// others map to U+0100 upwards, so every byte string is a printable string.
const std::array<std::string, 256>& byte_chars() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      unicode::append_utf8(t[size_t(b)], printable ? b : next++);
    }
    return t;
  }();
  return table;
}

// A byte-level token's bytes: each character through byte_chars() backwards; a token with a
// character outside that table stays as it is (HF's ByteLevel decoder does the same).
std::string byte_level_bytes(const std::string& t) {
  static const auto reverse = [] {
    std::unordered_map<std::string, char> r;
    for (int b = 0; b < 256; ++b) r[byte_chars()[size_t(b)]] = char(b);
    return r;
  }();
  std::string mapped;
  for (size_t i = 0; i < t.size();) {
    size_t len = 0;
    unicode::decode(t, i, &len);
    const auto it = reverse.find(t.substr(i, len));
    if (it == reverse.end()) return t;
    mapped += it->second;
    i += len;
  }
  return mapped;
}

// ByteFallback's byte tokens, "<0x00>" .. "<0xFF>".
bool is_byte_token(const std::string& t) {
  return t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' &&
         std::isxdigit(static_cast<unsigned char>(t[3])) && std::isxdigit(static_cast<unsigned char>(t[4]));
}
char byte_of_token(const std::string& t) { return char(std::stoi(t.substr(3, 2), nullptr, 16)); }

// Rust's String::from_utf8_lossy, approximately: each invalid byte becomes U+FFFD.
std::string lossy_utf8(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t len = 0;
    if (unicode::decode(s, i, &len) == unicode::kInvalidCodepoint) out += "\xEF\xBF\xBD";
    else out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

}  // namespace

void AddedTokenMatcher::add(const std::string& pattern, const AddedToken& t) {
  trie_.insert(pattern, int32_t(tokens_.size()));
  tokens_.push_back(t);
  first_byte_[static_cast<unsigned char>(pattern[0])] = true;
}

void AddedTokenMatcher::find(std::string_view text, Matches& out) const {
  size_t done = 0;  // text before this is already in `out`
  for (size_t p = 0; p < text.size() && !tokens_.empty();) {
    int32_t v = -1;
    const size_t len = first_byte_[static_cast<unsigned char>(text[p])] ? trie_.longest(text.substr(p), &v) : 0;
    if (len == 0) {
      ++p;
      continue;
    }
    const AddedToken& t = tokens_[size_t(v)];
    size_t start = p, stop = p + len, cut = 0;
    p = stop;  // the next search starts after this match, whether it is kept or not
    if (t.single_word) {
      const bool word_before = start > 0 && unicode::is_word(char_before(text, start, &cut));
      size_t l = 0;
      const bool word_after = stop < text.size() && unicode::is_word(unicode::decode(text, stop, &l));
      if (word_before || word_after) continue;
    }
    if (t.lstrip) {
      size_t s = start;
      while (s > 0 && is_space(char_before(text, s, &cut))) s = cut;
      start = std::max(s, done);
    }
    if (t.rstrip) {
      size_t l = 0;
      while (stop < text.size() && is_space(unicode::decode(text, stop, &l))) stop += l;
    }
    if (done < start) out.push_back(Match{-1, done, start});
    out.push_back(Match{t.id, start, stop});
    done = stop;
  }
  if (done < text.size() || text.empty()) out.push_back(Match{-1, done, text.size()});
}

std::vector<NormalizerStep> parse_normalizers(const std::string& path, const json& j) {
  std::vector<NormalizerStep> steps;
  if (j.is_null()) return steps;
  const std::string type = type_of(j);
  using K = NormalizerStep::Kind;
  if (type == "Sequence") {
    for (const json& n : j.at("normalizers")) {
      auto sub = parse_normalizers(path, n);
      steps.insert(steps.end(), sub.begin(), sub.end());
    }
  } else if (type == "Prepend") {
    steps.push_back({K::kPrepend, j.at("prepend").get<std::string>(), ""});
  } else if (type == "Replace") {
    const std::string from = string_pattern(path, j, "Replace normalizer");
    if (from.empty()) fail_file(path, "Replace normalizer with an empty pattern");
    steps.push_back({K::kReplace, from, j.at("content").get<std::string>()});
  } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    steps.push_back({type == "NFC" ? K::kNFC : type == "NFD" ? K::kNFD : type == "NFKC" ? K::kNFKC : K::kNFKD, "", ""});
  } else {
    fail_file(path, "normalizer type " + type + " is not supported");
  }
  return steps;
}

std::string normalize(const std::vector<NormalizerStep>& steps, std::string_view s) {
  std::string cur(s);
  using K = NormalizerStep::Kind;
  for (const NormalizerStep& n : steps) {
    switch (n.kind) {
      case K::kPrepend: if (!cur.empty()) cur.insert(0, n.a); break;
      case K::kReplace: replace_all(cur, n.a, n.b); break;
      case K::kNFC: cur = unicode::normalize(cur, unicode::NormForm::kNFC); break;
      case K::kNFD: cur = unicode::normalize(cur, unicode::NormForm::kNFD); break;
      case K::kNFKC: cur = unicode::normalize(cur, unicode::NormForm::kNFKC); break;
      case K::kNFKD: cur = unicode::normalize(cur, unicode::NormForm::kNFKD); break;
    }
  }
  return cur;
}

std::vector<PreTokenizerStep> parse_pre_tokenizers(const std::string& path, const json& j) {
  std::vector<PreTokenizerStep> steps;
  if (j.is_null()) return steps;
  const std::string type = type_of(j);
  PreTokenizerStep s;
  if (type == "Sequence") {
    for (const json& p : j.at("pretokenizers")) {
      auto sub = parse_pre_tokenizers(path, p);
      steps.insert(steps.end(), sub.begin(), sub.end());
    }
    return steps;
  } else if (type == "Split") {
    const json& p = j.at("pattern");
    if (!p.contains("Regex")) fail_file(path, "Split pre-tokenizer with a string pattern is not supported");
    const std::string re = p["Regex"].get<std::string>();
    const auto pat = recognize_split_regex(re);
    if (!pat) fail_file(path, "Split pre-tokenizer regex is not one rho knows (GPT-2, Llama-3, Qwen2): " + re);
    const std::string behavior = j.value("behavior", "Isolated");
    if (behavior != "Isolated") fail_file(path, "Split pre-tokenizer behavior " + behavior + " is not supported");
    if (j.value("invert", false)) fail_file(path, "Split pre-tokenizer with invert is not supported");
    s.kind = PreTokenizerStep::Kind::kSplit;
    s.pattern = *pat;
  } else if (type == "ByteLevel") {
    s.kind = PreTokenizerStep::Kind::kByteLevel;
    s.add_prefix_space = j.value("add_prefix_space", true);
    s.use_regex = j.value("use_regex", true);
    s.pattern = gpt2_pattern();
  } else if (type == "Metaspace") {
    s.kind = PreTokenizerStep::Kind::kMetaspace;
    s.replacement = j.value("replacement", "\xE2\x96\x81");
    if (s.replacement.empty()) fail_file(path, "Metaspace pre-tokenizer with an empty replacement");
    const std::string scheme = j.value("prepend_scheme", j.value("add_prefix_space", true) ? "always" : "never");
    if (scheme == "always") s.prepend = PreTokenizerStep::Prepend::kAlways;
    else if (scheme == "first") s.prepend = PreTokenizerStep::Prepend::kFirst;
    else if (scheme == "never") s.prepend = PreTokenizerStep::Prepend::kNever;
    else fail_file(path, "Metaspace prepend_scheme " + scheme + " is not supported");
    s.split = j.value("split", true);
  } else {
    fail_file(path, "pre-tokenizer type " + type + " is not supported");
  }
  steps.push_back(s);
  return steps;
}

void pre_tokenize(const std::vector<PreTokenizerStep>& steps, Pieces& pieces, Pieces& scratch, bool at_start) {
  thread_local std::vector<std::pair<size_t, size_t>> ranges;
  thread_local std::string tmp;
  using K = PreTokenizerStep::Kind;
  for (const PreTokenizerStep& st : steps) {
    scratch.clear();
    for (size_t i = 0; i < pieces.size(); ++i) {
      std::string_view p = pieces.at(i);
      if (st.kind == K::kSplit) {
        ranges.clear();
        split_pieces(st.pattern, p, ranges);
        for (const auto& [b, e] : ranges) scratch.add(p.substr(b, e - b));
      } else if (st.kind == K::kByteLevel) {
        if (st.add_prefix_space && (p.empty() || p[0] != ' ')) {
          tmp.assign(" ").append(p);
          p = tmp;
        }
        ranges.clear();
        if (st.use_regex) split_pieces(st.pattern, p, ranges);
        else ranges.emplace_back(0, p.size());
        const auto& chars = byte_chars();
        thread_local std::string mapped;
        for (const auto& [b, e] : ranges) {
          mapped.clear();
          for (size_t k = b; k < e; ++k) mapped += chars[static_cast<unsigned char>(p[k])];
          scratch.add(mapped);
        }
      } else {  // Metaspace
        tmp.clear();
        const bool prepend = st.prepend == PreTokenizerStep::Prepend::kAlways ||
                             (st.prepend == PreTokenizerStep::Prepend::kFirst && at_start && i == 0);
        for (char c : p) {
          if (c == ' ') tmp.append(st.replacement);
          else tmp.push_back(c);
        }
        if (prepend && tmp.compare(0, st.replacement.size(), st.replacement) != 0) tmp.insert(0, st.replacement);
        if (!st.split) {
          scratch.add(tmp);
          continue;
        }
        // MergedWithNext: each piece starts at a replacement character.
        size_t begin = 0;
        for (size_t hit = tmp.find(st.replacement, 1); hit != std::string::npos; hit = tmp.find(st.replacement, hit + 1)) {
          if (hit > begin) scratch.add(std::string_view(tmp).substr(begin, hit - begin));
          begin = hit;
        }
        if (begin < tmp.size()) scratch.add(std::string_view(tmp).substr(begin));
      }
    }
    std::swap(pieces, scratch);
  }
}

std::vector<DecoderStep> parse_decoders(const std::string& path, const json& j) {
  std::vector<DecoderStep> steps;
  if (j.is_null()) return steps;
  const std::string type = type_of(j);
  DecoderStep d;
  using K = DecoderStep::Kind;
  if (type == "Sequence") {
    for (const json& s : j.at("decoders")) {
      auto sub = parse_decoders(path, s);
      steps.insert(steps.end(), sub.begin(), sub.end());
    }
    return steps;
  } else if (type == "ByteLevel") {
    d.kind = K::kByteLevel;
  } else if (type == "Metaspace") {
    d.kind = K::kMetaspace;
    d.a = j.value("replacement", "\xE2\x96\x81");
    d.prepend = j.value("prepend_scheme", j.value("add_prefix_space", true) ? "always" : "never") != "never";
  } else if (type == "Replace") {
    d.kind = K::kReplace;
    d.a = string_pattern(path, j, "Replace decoder");
    d.b = j.at("content").get<std::string>();
  } else if (type == "ByteFallback") {
    d.kind = K::kByteFallback;
  } else if (type == "Fuse") {
    d.kind = K::kFuse;
  } else if (type == "Strip") {
    d.kind = K::kStrip;
    d.a = j.at("content").get<std::string>();
    d.start = j.value("start", size_t(0));
    d.stop = j.value("stop", size_t(0));
  } else {
    fail_file(path, "decoder type " + type + " is not supported");
  }
  steps.push_back(d);
  return steps;
}

std::string run_decoders(const std::vector<DecoderStep>& steps, std::vector<std::string> tokens) {
  using K = DecoderStep::Kind;
  for (const DecoderStep& d : steps) {
    std::vector<std::string> next;
    if (d.kind == K::kByteLevel) {
      std::string bytes;
      for (const std::string& t : tokens) bytes += byte_level_bytes(t);
      next.push_back(lossy_utf8(bytes));
    } else if (d.kind == K::kByteFallback) {
      std::string pending;
      size_t n_pending = 0;
      auto flush = [&] {
        if (n_pending == 0) return;
        if (lossy_utf8(pending) == pending) next.push_back(pending);
        else for (size_t i = 0; i < n_pending; ++i) next.push_back("\xEF\xBF\xBD");
        pending.clear(), n_pending = 0;
      };
      for (const std::string& t : tokens) {
        if (is_byte_token(t)) {
          pending += byte_of_token(t);
          ++n_pending;
        } else {
          flush();
          next.push_back(t);
        }
      }
      flush();
    } else if (d.kind == K::kFuse) {
      std::string all;
      for (const std::string& t : tokens) all += t;
      next.push_back(all);
    } else {
      for (size_t i = 0; i < tokens.size(); ++i) {
        std::string t = tokens[i];
        if (d.kind == K::kReplace) {
          replace_all(t, d.a, d.b);
        } else if (d.kind == K::kMetaspace) {
          replace_all(t, d.a, i == 0 && d.prepend ? "" : " ");
        } else if (!d.a.empty()) {  // Strip
          for (size_t k = 0; k < d.start && t.compare(0, d.a.size(), d.a) == 0; ++k) t.erase(0, d.a.size());
          for (size_t k = 0; k < d.stop && t.size() >= d.a.size() && t.compare(t.size() - d.a.size(), d.a.size(), d.a) == 0; ++k)
            t.resize(t.size() - d.a.size());
        }
        next.push_back(std::move(t));
      }
    }
    tokens = std::move(next);
  }
  std::string out;
  for (const std::string& t : tokens) out += t;
  return out;
}

std::string raw_token_bytes(const std::vector<DecoderStep>& steps, std::string t) {
  using K = DecoderStep::Kind;
  for (const DecoderStep& d : steps) {
    if (d.kind == K::kByteLevel) t = byte_level_bytes(t);
    else if (d.kind == K::kByteFallback && is_byte_token(t)) t = std::string(1, byte_of_token(t));
    else if (d.kind == K::kReplace) replace_all(t, d.a, d.b);
    else if (d.kind == K::kMetaspace) replace_all(t, d.a, " ");
  }
  return t;
}

void parse_post_processor(const std::string& path, const json& j, Model& model) {
  if (j.is_null()) return;
  const std::string type = type_of(j);
  if (type == "ByteLevel") return;
  if (type == "Sequence") {
    for (const json& p : j.at("processors")) parse_post_processor(path, p, model);
    return;
  }
  model.prefix.clear(), model.suffix.clear();
  if (type == "TemplateProcessing") {
    bool seen_a = false;
    for (const json& item : j.at("single")) {
      if (item.contains("Sequence")) {
        seen_a = true;
        continue;
      }
      const std::string name = item.at("SpecialToken").at("id").get<std::string>();
      const json& spec = j.at("special_tokens").at(name);
      for (const json& id : spec.at("ids")) {
        const int64_t v = id.get<int64_t>();
        if (v < 0 || v >= model.vocab_size()) fail_file(path, "post_processor special token " + name + " has an id outside the vocabulary");
        (seen_a ? model.suffix : model.prefix).push_back(int32_t(v));
      }
    }
  } else if (type == "RobertaProcessing" || type == "BertProcessing") {
    const int64_t cls = j.at("cls").at(1).get<int64_t>(), sep = j.at("sep").at(1).get<int64_t>();
    if (cls < 0 || sep < 0 || cls >= model.vocab_size() || sep >= model.vocab_size())
      fail_file(path, "post_processor cls/sep id outside the vocabulary");
    model.prefix = {int32_t(cls)};
    model.suffix = {int32_t(sep)};
  } else {
    fail_file(path, "post_processor type " + type + " is not supported");
  }
  if (!model.prefix.empty()) model.bos = model.prefix.front();
  if (!model.suffix.empty()) model.eos = model.suffix.back();
}

}  // namespace rho::tok
