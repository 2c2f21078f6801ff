// The record formats of eval/choice/choice.h, each as lm-evaluation-harness's task config builds its
// prompt (doc_to_text, doc_to_choice, doc_to_target; target delimiter " ").
#include <cctype>

#include "common/error.h"
#include "eval/choice/choice.h"
#include "common/pytext.h"

namespace rho {
namespace {

using nlohmann::json;

struct Reader {
  const json& r;
  const std::string& file;
  int64_t line;
  const std::string& format;

  [[noreturn]] void bad(const std::string& problem) const {
    fail_file(file, "line " + std::to_string(line) + ": " + format + " record " + problem);
  }
  const json& field(const char* name) const {
    if (!r.contains(name)) bad(std::string("has no field \"") + name + "\"");
    return r.at(name);
  }
  std::string text(const char* name) const {
    const json& v = field(name);
    if (!v.is_string()) bad(std::string("field \"") + name + "\" is not a string");
    return v.get<std::string>();
  }
  std::vector<std::string> texts(const json& v, const char* name) const {
    if (!v.is_array() || v.empty()) bad(std::string("field \"") + name + "\" is not a non-empty list");
    std::vector<std::string> out;
    for (const auto& e : v) {
      if (!e.is_string()) bad(std::string("field \"") + name + "\" holds a non-string");
      out.push_back(e.get<std::string>());
    }
    return out;
  }
  // An index given as a number or a numeric string ("0", "2").
  int index(const char* name, size_t n) const {
    const json& v = field(name);
    int64_t k = -1;
    if (v.is_number_integer()) k = v.get<int64_t>();
    else if (v.is_boolean()) k = v.get<bool>() ? 1 : 0;
    else if (v.is_string() && !v.get<std::string>().empty() && std::isdigit(static_cast<unsigned char>(v.get<std::string>()[0])))
      k = std::stoll(v.get<std::string>());
    if (k < 0 || k >= int64_t(n)) bad(std::string("field \"") + name + "\" is not a choice index below " + std::to_string(n));
    return int(k);
  }
  // ARC/OpenBookQA: choices {text: [...], label: [...]}, answerKey one of the labels.
  ChoiceDoc labelled(const std::string& context) const {
    const json& c = field("choices");
    if (!c.is_object() || !c.contains("text") || !c.contains("label")) bad("field \"choices\" lacks text and label lists");
    const auto texts_ = texts(c["text"], "choices.text"), labels = texts(c["label"], "choices.label");
    if (texts_.size() != labels.size()) bad("choices.text and choices.label differ in length");
    const std::string key = py::strip(text("answerKey"));
    int gold = -1;
    for (size_t k = 0; k < labels.size(); ++k)
      if (labels[k] == key) gold = int(k);
    if (gold < 0) bad("answerKey \"" + key + "\" is not among the labels");
    return plain(context, texts_, gold);
  }
  static ChoiceDoc plain(const std::string& context, const std::vector<std::string>& choices, int gold) {
    ChoiceDoc d;
    d.choices = choices;
    d.gold = gold;
    for (const auto& c : choices) {
      d.contexts.push_back(context);
      d.continuations.push_back(" " + c);
    }
    return d;
  }
};

// hellaswag's preprocess(): strip, " [title]" -> ". ", drop [bracketed] artefacts, "  " -> " ".
std::string hellaswag_text(const std::string& s) {
  std::string t = py::replace_all(py::strip(s), " [title]", ". "), out;
  size_t i = 0;
  for (size_t at; (at = t.find('[', i)) != std::string::npos;) {
    const size_t close = t.find(']', at + 1);
    if (close == std::string::npos) break;
    out += t.substr(i, at - i);
    i = close + 1;
  }
  return py::replace_all(out + t.substr(i), "  ", " ");
}

// str.capitalize() (ASCII): first letter up, the rest down.
std::string capitalize(std::string s) {
  for (size_t k = 0; k < s.size(); ++k) s[k] = char(k ? std::tolower(static_cast<unsigned char>(s[k])) : std::toupper(static_cast<unsigned char>(s[k])));
  return s;
}

}  // namespace

const std::vector<std::string>& choice_formats() {
  static const std::vector<std::string> f = {"arc", "openbookqa", "hellaswag", "piqa", "winogrande",
                                             "boolq", "mmlu", "sciq", "generic"};
  return f;
}

std::string detect_choice_format(const json& r) {
  auto has = [&](const char* k) { return r.is_object() && r.contains(k); };
  if (has("ctx_a") && has("endings")) return "hellaswag";
  if (has("goal") && has("sol1")) return "piqa";
  if (has("sentence") && has("option1")) return "winogrande";
  if (has("passage") && has("question")) return "boolq";
  if (has("support") && has("correct_answer")) return "sciq";
  if (has("question_stem") && has("answerKey")) return "openbookqa";
  if (has("answerKey") && has("choices") && r["choices"].is_object()) return "arc";
  if (has("question") && has("choices") && r["choices"].is_array() && has("answer")) return "mmlu";
  if (has("choices") && r["choices"].is_array()) return "generic";
  return "";
}

ChoiceDoc parse_choice_record(const std::string& format, const json& record, const std::string& file, int64_t line) {
  const Reader rd{record, file, line, format};
  if (format == "arc") return rd.labelled("Question: " + rd.text("question") + "\nAnswer:");
  if (format == "openbookqa") return rd.labelled(rd.text("question_stem"));
  // Fields are read one statement at a time so a missing one is named in a fixed order.
  if (format == "hellaswag") {
    const std::string label = rd.text("activity_label"), a = rd.text("ctx_a"), b = rd.text("ctx_b");
    std::vector<std::string> endings;
    for (const auto& e : rd.texts(rd.field("endings"), "endings")) endings.push_back(hellaswag_text(e));
    const int gold = rd.index("label", endings.size());
    return Reader::plain(hellaswag_text(label + ": " + a + " " + capitalize(b)), endings, gold);
  }
  if (format == "piqa") {
    const std::string goal = rd.text("goal"), sol1 = rd.text("sol1"), sol2 = rd.text("sol2");
    const int gold = rd.index("label", 2);
    return Reader::plain("Question: " + goal + "\nAnswer:", {sol1, sol2}, gold);
  }
  if (format == "winogrande") {
    const std::string s = rd.text("sentence");
    const size_t blank = s.find('_');
    if (blank == std::string::npos) rd.bad("sentence has no \"_\"");
    const std::string answer = rd.text("answer");
    if (answer != "1" && answer != "2") rd.bad("answer is not \"1\" or \"2\"");
    ChoiceDoc d;
    for (const char* opt : {"option1", "option2"}) {
      d.contexts.push_back(s.substr(0, blank) + rd.text(opt));
      d.continuations.push_back(" " + py::strip(s.substr(blank + 1)));
    }
    d.choices = d.contexts;  // the harness's doc_to_choice: what acc_norm measures here
    d.gold = answer == "1" ? 0 : 1;
    return d;
  }
  if (format == "boolq") {
    const std::string passage = rd.text("passage"), question = rd.text("question");
    const int gold = rd.index(record.contains("label") ? "label" : "answer", 2);
    return Reader::plain(passage + "\nQuestion: " + question + "?\nAnswer:", {"no", "yes"}, gold);
  }
  if (format == "mmlu") {
    const auto c = rd.texts(rd.field("choices"), "choices");
    if (c.size() != 4) rd.bad("field \"choices\" does not hold 4 choices");
    int gold = -1;
    const json& a = rd.field("answer");
    if (a.is_string() && a.get<std::string>().size() == 1 && a.get<std::string>()[0] >= 'A' && a.get<std::string>()[0] <= 'D')
      gold = a.get<std::string>()[0] - 'A';
    else
      gold = rd.index("answer", 4);
    ChoiceDoc d = Reader::plain(py::strip(rd.text("question")) + "\nA. " + c[0] + "\nB. " + c[1] + "\nC. " + c[2] +
                                    "\nD. " + c[3] + "\nAnswer:",
                                {"A", "B", "C", "D"}, gold);
    if (record.contains("subject") && record["subject"].is_string())
      d.description = "The following are multiple choice questions (with answers) about " +
                      py::replace_all(record["subject"].get<std::string>(), "_", " ") + ".\n\n";
    return d;
  }
  if (format == "sciq") {
    const std::string support = rd.text("support"), question = rd.text("question");
    std::vector<std::string> choices;
    for (const char* k : {"distractor1", "distractor2", "distractor3", "correct_answer"}) choices.push_back(rd.text(k));
    return Reader::plain(py::lstrip(support) + "\nQuestion: " + question + "\nAnswer:", choices, 3);
  }
  if (format == "generic") {
    const std::string ctx = rd.text(record.contains("context") ? "context" : record.contains("query") ? "query" : "question");
    const auto c = rd.texts(rd.field("choices"), "choices");
    const int gold = rd.index(record.contains("gold") ? "gold" : record.contains("label") ? "label" : "answer", c.size());
    return Reader::plain(ctx, c, gold);
  }
  fail("unknown choice format \"" + format + "\"");
}

std::string choice_example(const ChoiceDoc& d) {
  return d.contexts[size_t(d.gold)] + d.continuations[size_t(d.gold)];
}

}  // namespace rho
