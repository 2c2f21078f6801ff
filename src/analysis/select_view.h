// What SLM would train on, made visible: one self-contained HTML page (inline CSS, no scripts,
// no external resources) with each token of a text coloured by its excess loss
// L_model - L_ref on a diverging scale (blue: the model already beats the reference; red: the
// reference finds it much easier, i.e. learnable and not yet learnt) and the tokens that top-k%
// selection keeps (rho::select_top_k over the whole text) underlined. Hovering a token shows its
// losses (the title attribute).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/compute.h"
#include "model/fused_head.h"
#include "tokenizer/tokenizer.h"

namespace rho {

struct TokenView {
  int32_t id = 0;
  std::string text;    // what the token contributes to the text (bytes of a split UTF-8
                       // character are shown on the token that completes it)
  bool scored = false;  // the first token has no prediction, hence no loss
  float loss = 0, ref_loss = 0, excess = 0;
  bool selected = false;
};

struct SelectViewHeader {
  std::string model, ref, tokenizer;
  double ratio = 0.6;
  std::string note;  // a paragraph above the text: what to look for ("" = none)
};

// Display text of each token of `ids`: pieces with sentencepiece's U+2581 shown as spaces and
// byte-fallback pieces (<0x0A>) reassembled into UTF-8.
std::vector<std::string> token_display_texts(const Tokenizer& tok, const std::vector<int32_t>& ids);

// The HTML page for `tokens` (pure rendering; no model).
std::string render_select_html(const std::vector<TokenView>& tokens, const SelectViewHeader& header);

struct SelectViewOptions {
  std::string model, ref, tokenizer;
  std::string text, text_file;  // one of them
  double ratio = 0.6;
  std::string note;             // shown above the text (SelectViewHeader::note)
  std::string out;              // the .html written
  bool allow_unrecorded_tokenizer = false;  // model/model_use.h
  Compute compute;
  HeadOptions head;  // fused chunked head (default) or the plain path
};

// Scores the text with both models (measure/token_losses.h), selects, writes the page; returns the
// token views.
std::vector<TokenView> run_select_view(const SelectViewOptions& opts);

}  // namespace rho
