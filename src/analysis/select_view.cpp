#include "analysis/select_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>

#include "common/error.h"
#include "common/fileio.h"
#include "data/loader.h"
#include "measure/token_losses.h"
#include "model/model_use.h"
#include "selection/select.h"

namespace rho {
namespace {

// "<0x0A>" -> 0x0A; false for any other piece.
bool byte_piece(const std::string& piece, unsigned& byte) {
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return false;
  char* end = nullptr;
  const std::string hex = piece.substr(3, 2);
  byte = unsigned(std::strtoul(hex.c_str(), &end, 16));
  return end == hex.c_str() + 2;
}

// Length of the UTF-8 sequence a lead byte starts (0: not a lead byte).
size_t utf8_length(unsigned b) {
  if (b < 0x80) return 1;
  if ((b & 0xE0) == 0xC0) return 2;
  if ((b & 0xF0) == 0xE0) return 3;
  if ((b & 0xF8) == 0xF0) return 4;
  return 0;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// Diverging scale: t in [-1, 1] -> blue (#2166ac) .. white .. red (#b2182b).
std::string diverging_colour(double t) {
  t = std::clamp(t, -1.0, 1.0);
  const double end[2][3] = {{33, 102, 172}, {178, 24, 43}};
  const double* e = end[t > 0 ? 1 : 0];
  const double a = std::fabs(t);
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", int(std::lround(255 + (e[0] - 255) * a)),
                int(std::lround(255 + (e[1] - 255) * a)), int(std::lround(255 + (e[2] - 255) * a)));
  return buf;
}

std::string num(double v, const char* fmt = "%.3f") {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

}  // namespace

std::vector<std::string> token_display_texts(const Tokenizer& tok, const std::vector<int32_t>& ids) {
  std::vector<std::string> texts(ids.size());
  std::deque<std::pair<size_t, unsigned>> pending;  // byte-fallback tokens not yet a whole character
  // Emits every complete character at the front of `pending`; an invalid or (at_end) unfinished
  // sequence shows its first byte as the raw piece so nothing silently disappears.
  auto drain = [&](bool at_end) {
    while (!pending.empty()) {
      const size_t need = utf8_length(pending.front().second);
      bool valid = need > 0;
      for (size_t k = 1; valid && k < std::min(need, pending.size()); ++k)
        valid = (pending[k].second & 0xC0) == 0x80;
      if (valid && pending.size() < need && !at_end) return;  // wait for the rest
      if (!valid || pending.size() < need) {
        texts[pending.front().first] = tok.id_to_piece(ids[pending.front().first]);
        pending.pop_front();
        continue;
      }
      std::string ch;
      for (size_t k = 0; k < need; ++k) ch += char(pending[k].second);
      texts[pending[need - 1].first] = ch;  // the earlier bytes' tokens show nothing
      pending.erase(pending.begin(), pending.begin() + long(need));
    }
  };
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string piece = tok.id_to_piece(ids[i]);
    unsigned b = 0;
    if (byte_piece(piece, b)) {
      pending.emplace_back(i, b);
      drain(false);
      continue;
    }
    drain(true);
    std::string t;
    for (size_t k = 0; k < piece.size(); ++k) {
      if (piece.compare(k, 3, "\xE2\x96\x81") == 0) {  // U+2581, sentencepiece's space
        t += ' ';
        k += 2;
      } else {
        t += piece[k];
      }
    }
    texts[i] = t;
  }
  drain(true);
  return texts;
}

namespace {

// What the page's header table says about the scored tokens.
struct SelectionTotals {
  int64_t scored = 0, selected = 0;
  double sel_sum = 0, unsel_sum = 0, loss_sum = 0, ref_sum = 0, threshold = HUGE_VAL;
  double scale = 1.0;  // |excess| shown at full colour
};

SelectionTotals selection_totals(const std::vector<TokenView>& tokens) {
  SelectionTotals s;
  std::vector<double> mags;
  for (auto& t : tokens) {
    if (!t.scored) continue;
    ++s.scored;
    mags.push_back(std::fabs(t.excess));
    s.loss_sum += t.loss;
    s.ref_sum += t.ref_loss;
    if (t.selected) {
      ++s.selected;
      s.sel_sum += t.excess;
      s.threshold = std::min(s.threshold, double(t.excess));
    } else {
      s.unsel_sum += t.excess;
    }
  }
  // Colour scale: the 98th percentile of |excess| maps to full colour, so one outlier does not
  // wash out every other token.
  std::sort(mags.begin(), mags.end());
  s.scale = mags.empty() ? 1.0 : mags[std::min(mags.size() - 1, size_t(0.98 * double(mags.size())))];
  if (!(s.scale > 1e-6)) s.scale = 1e-6;
  return s;
}

// The page's start: doctype, title and style sheet.
void page_head(std::string& o) {
  o += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  o += "<title>rho: token selection view</title>\n<style>\n";
  o += "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;background:#fff;max-width:1100px}\n"
       "h1{font-size:20px;margin:0 0 8px}\n"
       "table.info{border-collapse:collapse;font-size:13px;margin:8px 0 14px}\n"
       "table.info td{padding:2px 12px 2px 0;vertical-align:top}\n"
       "table.info td:first-child{color:#666}\n"
       ".legend{display:flex;align-items:center;gap:14px;font-size:13px;margin:6px 0 16px;flex-wrap:wrap}\n"
       ".bar{width:260px;height:14px;border:1px solid #999;"
       "background:linear-gradient(to right,#2166ac,#ffffff,#b2182b)}\n"
       ".ticks{display:flex;justify-content:space-between;width:262px;font-size:11px;color:#555}\n"
       ".text{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:14px;line-height:1.9;"
       "white-space:pre-wrap;word-wrap:break-word;border:1px solid #ddd;padding:12px;border-radius:4px}\n"
       ".t{border-radius:2px}\n"
       ".s{box-shadow:inset 0 -3px 0 #111}\n"
       ".u{color:#999;border:1px dashed #bbb}\n"
       ".nl{color:#888}\n"
       "code{font-size:12px}\n"
       ".note{font-size:14px;max-width:900px;margin:4px 0 14px;line-height:1.45}\n";
  o += "</style>\n</head>\n<body>\n";
}

// The header: which models, and the selection's totals.
void info_table(std::string& o, const std::vector<TokenView>& tokens, const SelectViewHeader& h, const SelectionTotals& s) {
  o += "<h1>Token selection view (Selective Language Modeling)</h1>\n<table class=\"info\">\n";
  auto row = [&](const std::string& k, const std::string& v) {
    o += "<tr><td>" + html_escape(k) + "</td><td>" + v + "</td></tr>\n";
  };
  row("model", "<code>" + html_escape(h.model) + "</code>");
  row("reference", "<code>" + html_escape(h.ref) + "</code>");
  row("tokenizer", "<code>" + html_escape(h.tokenizer) + "</code>");
  row("ratio (k%)", num(100 * h.ratio, "%.1f") + "%");
  row("tokens", std::to_string(tokens.size()) + " (" + std::to_string(s.scored) + " scored; the first has no prediction)");
  row("selected", std::to_string(s.selected) + " of " + std::to_string(s.scored) +
                      (s.selected ? " (k-th largest excess loss " + num(s.threshold, "%+.3f") + ")" : ""));
  row("mean excess loss", "selected " + num(s.selected ? s.sel_sum / double(s.selected) : 0, "%+.3f") + ", not selected " +
                              num(s.scored > s.selected ? s.unsel_sum / double(s.scored - s.selected) : 0, "%+.3f"));
  row("mean loss", "model " + num(s.scored ? s.loss_sum / double(s.scored) : 0) + ", reference " +
                       num(s.scored ? s.ref_sum / double(s.scored) : 0) + " (nats/token)");
  o += "</table>\n";
}

// The colour legend.
void legend(std::string& o, double scale, double ratio) {
  o += "<div class=\"legend\"><div><div class=\"bar\"></div><div class=\"ticks\"><span>" + num(-scale, "%+.2f") +
       "</span><span>0</span><span>" + num(scale, "%+.2f") + "</span></div></div>";
  o += "<div>excess loss L<sub>model</sub> &minus; L<sub>ref</sub> (nats): blue = model already better, "
       "red = reference much better (learnable, not yet learnt)</div>";
  o += "<div><span class=\"t s\" style=\"background:#f4a582\">&nbsp;token&nbsp;</span> = selected (top " +
       num(100 * ratio, "%.0f") + "%)</div>";
  o += "<div><span class=\"t u\">&nbsp;token&nbsp;</span> = not scored</div></div>\n";
}

// Token i as a span: background by excess loss, underlined when selected, a tooltip with its numbers.
void token_span(std::string& o, size_t i, const TokenView& t, double scale) {
  std::string shown = t.text;
  // The tooltip names the token; newlines and tabs are written as escapes there.
  std::string tip = "#" + std::to_string(i) + " id " + std::to_string(t.id) + " \"";
  for (char c : t.text) tip += c == '\n' ? std::string("\\n") : c == '\t' ? std::string("\\t") : std::string(1, c);
  tip += "\"";
  std::string cls = "t", style;
  if (t.scored) {
    style = " style=\"background:" + diverging_colour(t.excess / scale) + (std::fabs(t.excess / scale) > 0.75 ? ";color:#fff" : "") + "\"";
    tip += " | loss " + num(t.loss) + " | ref " + num(t.ref_loss) + " | excess " + num(t.excess, "%+.3f") +
           (t.selected ? " | selected" : " | not selected");
    if (t.selected) cls += " s";
  } else {
    cls += " u";
    tip += " | no prediction (first token)";
  }
  // Newlines show as a return sign and then break the line (the container keeps whitespace).
  std::string body;
  size_t start = 0;
  for (size_t nl = shown.find('\n'); nl != std::string::npos; nl = shown.find('\n', start)) {
    body += html_escape(shown.substr(start, nl - start)) + "<span class=\"nl\">&#8629;</span>\n";
    start = nl + 1;
  }
  body += html_escape(shown.substr(start));
  o += "<span class=\"" + cls + "\"" + style + " title=\"" + html_escape(tip) + "\">" + body + "</span>";
}

}  // namespace

std::string render_select_html(const std::vector<TokenView>& tokens, const SelectViewHeader& h) {
  const SelectionTotals totals = selection_totals(tokens);
  std::string o;
  page_head(o);
  info_table(o, tokens, h, totals);
  legend(o, totals.scale, h.ratio);
  if (!h.note.empty()) o += "<p class=\"note\">" + html_escape(h.note) + "</p>\n";
  o += "<div class=\"text\">";
  for (size_t i = 0; i < tokens.size(); ++i) token_span(o, i, tokens[i], totals.scale);
  o += "</div>\n</body>\n</html>\n";
  return o;
}

std::vector<TokenView> run_select_view(const SelectViewOptions& o) {
  if (o.text.empty() == o.text_file.empty()) fail("give exactly one of --text and --text-file");
  if (!(o.ratio > 0 && o.ratio <= 1)) fail("--ratio must be in (0, 1]");
  const Tokenizer tok = Tokenizer::load(o.tokenizer);
  auto model = load_model_for(o.model, {"model", tok.id(), 0, o.allow_unrecorded_tokenizer});
  auto ref = load_model_for(o.ref, {"reference model", tok.id(), 0, o.allow_unrecorded_tokenizer});
  prepare_for_inference(*model, o.compute);
  prepare_for_inference(*ref, o.compute);
  std::string text = o.text;
  if (!o.text_file.empty()) {
    text = read_file(o.text_file);
    if (text.empty()) fail_file(o.text_file, "empty file");
  }
  const std::vector<int32_t> ids = tok.encode(text);
  if (ids.size() < 2) fail("the text has " + std::to_string(ids.size()) + " token(s): at least 2 are needed to score one");

  // Windows as long as the smaller model's positions allow: every token after the first is
  // predicted exactly once, with as much context as the models have.
  const int64_t T = std::min(model->config.max_position_embeddings, ref->config.max_position_embeddings);
  std::vector<ScoredSequence> seqs;
  for (const TokenSpan& w : cut_windows(ids.size(), T, /*keep_tail=*/true))
    seqs.push_back({std::vector<int32_t>(ids.begin() + int64_t(w.start), ids.begin() + int64_t(w.end)), 1});
  MeasureOptions eval;
  eval.compute = o.compute;
  eval.head = o.head;
  const auto losses = sequence_losses(model, seqs, eval);  // (N) with N = ids.size() - 1
  const auto ref_losses = sequence_losses(ref, seqs, eval);
  const int64_t N = int64_t(losses.size());
  auto excess = torch::empty({1, N}, torch::kFloat);  // (1, N): one selection row over the whole text
  for (int64_t i = 0; i < N; ++i) excess[0][i] = losses[size_t(i)] - ref_losses[size_t(i)];
  const auto mask = select_top_k(excess, selected_count(N, o.ratio)).mask[0].contiguous();  // (N) bool
  const auto kept = mask.accessor<bool, 1>();

  const auto texts = token_display_texts(tok, ids);
  std::vector<TokenView> views(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    views[i].id = ids[i];
    views[i].text = texts[i];
    if (i == 0) continue;
    views[i].scored = true;
    views[i].loss = losses[i - 1];
    views[i].ref_loss = ref_losses[i - 1];
    views[i].excess = views[i].loss - views[i].ref_loss;
    views[i].selected = kept[int64_t(i - 1)];
  }
  const auto parent = std::filesystem::path(o.out).parent_path();
  if (!parent.empty()) make_dirs(parent.string());
  write_file_atomic(o.out, render_select_html(views, {o.model, o.ref, o.tokenizer, o.ratio, o.note}));
  return views;
}

}  // namespace rho
