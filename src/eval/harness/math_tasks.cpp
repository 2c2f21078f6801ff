#include "eval/harness/math_tasks.h"

#include <cctype>
#include <cmath>
#include <cstring>

#include "common/error.h"
#include "eval/harness/answer.h"
#include "common/pytext.h"

namespace rho {

struct EmbeddedPrompt {
  const char* name;
  const unsigned char* data;
  size_t size;
};
extern const EmbeddedPrompt kEmbeddedPrompts[];  // generated: build/generated/harness_prompts.cpp

namespace {

using nlohmann::json;

struct RecordReader {
  const json& r;
  const std::string& file;
  int64_t line;
  const std::string& task;

  [[noreturn]] void bad(const std::string& problem) const {
    fail_file(file, "line " + std::to_string(line) + ": " + task + " record " + problem);
  }
  const json& field(const char* name) const {
    if (!r.is_object() || !r.contains(name)) bad(std::string("has no field \"") + name + "\"");
    return r.at(name);
  }
  std::string text(const char* name) const {
    const json& v = field(name);
    if (!v.is_string()) bad(std::string("field \"") + name + "\" is not a string");
    return v.get<std::string>();
  }
  // str(value): numbers as Python prints them (SVAMP's Answer 1.0 -> "1.0").
  std::string str(const char* name) const {
    const json& v = field(name);
    if (v.is_null()) bad(std::string("field \"") + name + "\" is null");
    return py::str_of(v);
  }
};

// asdiv: re.sub(r"\(.*?\)", "", answer): "9 (apples)" -> "9 ".
std::string drop_parentheses(const std::string& s) {
  std::string out;
  size_t i = 0;
  for (size_t at; (at = s.find('(', i)) != std::string::npos;) {
    const size_t close = s.find(')', at + 1);
    if (close == std::string::npos) break;
    out += s.substr(i, at - i);
    i = close + 1;
  }
  return out + s.substr(i);
}

// tabmwp: integer_number / decimal_number answers become floats ("1,000" -> 1000.0, "3/4" -> 0.75).
std::string tabmwp_answer(const RecordReader& rd) {
  std::string a = rd.str("answer");
  const json& type = rd.field("ans_type");
  if (!type.is_string() || (type != "integer_number" && type != "decimal_number")) return a;
  std::optional<double> v;
  if (py::contains(a, "/")) {
    const auto parts = py::split(a, "/");
    // int(a) / int(b): both sides must be integers.
    auto x = py::parse_float(parts[0]), y = parts.size() == 2 ? py::parse_float(parts[1]) : std::nullopt;
    if (x && y && *y != 0 && *x == std::trunc(*x) && *y == std::trunc(*y)) v = *x / *y;
  } else if (py::contains(a, ",")) {
    v = py::parse_float(py::replace_all(a, ",", ""));
  } else if (py::contains(a, "%")) {
    if (auto x = py::parse_float(py::split(a, "%")[0])) v = *x / 100;
  } else {
    v = py::parse_float(a);
  }
  if (!v) rd.bad("answer \"" + a + "\" is not a number though ans_type is " + type.get<std::string>());
  return py::float_repr(*v);
}

// mathqa's options: "a ) 12 , b ) 16 , ..." or a Python list literal of such strings.
std::string mathqa_options(const RecordReader& rd) {
  std::string options = py::strip(rd.text("options"));
  if (!options.empty() && options[0] == '[') {
    auto list = py::parse_str_list(options);
    if (!list) rd.bad("options are neither \"a ) ..\" text nor a list of strings");
    options.clear();
    for (size_t k = 0; k < list->size(); ++k) options += (k ? ", " : "") + (*list)[k];
  }
  if (options.empty() || options[0] != 'a') rd.bad("options do not start with \"a\": " + options);
  for (char ch : std::string("abcde")) {
    const std::string mark = std::string(1, ch) + " ) ";
    if (!py::contains(options, mark)) continue;
    options = py::replace_all(options, mark + mark, mark);
    options = py::replace_all(options, mark, std::string("(") + char(ch - 'a' + 'A') + ") ");
  }
  return py::replace_all(options, " , ", ", ");
}

const char* kChoicePrompt = "\nWhat of the following is the right choice? Explain your answer.\n";

std::string question_of(const MathTask& task, const RecordReader& rd) {
  const std::string& t = task.name;
  if (t == "asdiv") return py::strip(rd.text("body")) + " " + py::strip(rd.text("question"));
  if (t == "svamp") {
    std::string body = py::strip(rd.text("Body"));
    if (!py::ends_with(body, ".")) body += ".";
    return body + " " + py::strip(rd.text("Question"));
  }
  if (t == "tabmwp") {
    const json& title = rd.field("table_title");
    std::string q = "Read the following table ";
    if (title.is_string() && !title.get<std::string>().empty()) q += "regarding \"" + title.get<std::string>() + "\" ";
    q += "and answer a question:\n" + rd.text("table") + "\n" + rd.text("question");
    const json& choices = rd.field("choices");
    if (!choices.is_null() && !(choices.is_array() && choices.empty()) && !(choices.is_string() && choices.get<std::string>().empty()))
      q += " Please select from the following options: " + py::str_of(choices);
    return q;
  }
  if (t == "mmlu_stem") {
    const json& choices = rd.field("choices");
    if (!choices.is_array() || choices.size() != 4) rd.bad("field \"choices\" is not a list of 4");
    std::string options;
    for (size_t k = 0; k < 4; ++k)
      options += std::string(k ? ", " : "") + "(" + char('A' + k) + ") " + py::strip(py::str_of(choices[k]));
    return py::strip(rd.text("question")) + kChoicePrompt + options;
  }
  if (t == "sat_math") {
    std::string options = py::strip(rd.text("options"));
    if (options.empty() || options[0] != 'A') rd.bad("options do not start with \"A\": " + options);
    options = "(" + options;
    for (char ch : std::string("BCD"))
      options = py::replace_all(options, std::string(" ") + ch + ") ", std::string(" (") + ch + ") ");
    return py::strip(rd.text("question")) + kChoicePrompt + py::strip(options);
  }
  if (t == "mathqa") {
    std::string problem = rd.text("problem");
    if (!problem.empty() && problem[0] >= 'a' && problem[0] <= 'z') problem[0] = char(problem[0] - 'a' + 'A');
    return py::strip(problem) + kChoicePrompt + py::strip(mathqa_options(rd));
  }
  for (const char* key : {"question", "problem", "Question", "input"})
    if (rd.r.is_object() && rd.r.contains(key)) return rd.text(key);
  rd.bad("has none of the fields question, problem, Question, input");
}

std::string gold_of(const MathTask& task, const RecordReader& rd) {
  const std::string& t = task.name;
  // Records that carry their answer already (the harness's "minerva_math" is not among the tasks
  // whose gt it re-extracts from gt_cot).
  if (rd.r.is_object() && rd.r.contains("gt_cot") && rd.r.contains("gt")) return harness::strip_string(rd.str("gt"));
  std::string gt;
  if (t == "math") {
    gt = harness::extract_answer(rd.text("solution"), t);
  } else if (t == "mathqa") {
    gt = rd.text("correct");
    for (auto& c : gt) c = char(std::toupper(static_cast<unsigned char>(c)));
    if (gt.size() != 1 || gt[0] < 'A' || gt[0] > 'E') rd.bad("field \"correct\" is not one of a-e: " + gt);
  } else if (t == "gsm8k") {
    const auto parts = py::split(rd.text("answer"), "####");
    if (parts.size() != 2) rd.bad("answer does not hold exactly one \"####\"");
    gt = parts[1];
  } else if (t == "svamp") {
    gt = rd.str("Answer");
  } else if (t == "asdiv") {
    gt = drop_parentheses(rd.text("answer"));
  } else if (t == "mawps") {
    gt = rd.str("target");
  } else if (t == "tabmwp") {
    gt = tabmwp_answer(rd);
  } else if (t == "mmlu_stem") {
    const json& a = rd.field("answer");
    if (!a.is_number_integer() || a.get<int64_t>() < 0 || a.get<int64_t>() > 3) rd.bad("field \"answer\" is not 0-3");
    gt = std::string(1, char('A' + a.get<int64_t>()));
  } else if (t == "sat_math") {
    gt = rd.str("Answer");
  }
  return harness::strip_string(gt);
}

}  // namespace

const std::vector<MathTask>& math_tasks() {
  static const std::vector<MathTask> tasks = {
      {"gsm8k", "gsm8k.md", false, "gsm8k"},
      // The paper's MATH is the harness's minerva_math, which data_loader.py reads from math_oai.
      {"math", "minerva_math.md", true, "math_oai"},
      {"svamp", "gsm8k.md", false, "svamp"},
      {"asdiv", "gsm8k.md", false, "asdiv"},
      {"mawps", "gsm8k.md", false, "mawps"},
      {"tabmwp", "gsm8k.md", false, "tabmwp"},
      {"mathqa", "mathqa.md", true, "mathqa"},
      {"mmlu_stem", "mmlu_stem.md", true, "mmlu_stem"},
      {"sat_math", "mmlu_stem.md", true, "sat_math"},
  };
  return tasks;
}

const MathTask& math_task(const std::string& name) {
  std::string known;
  for (const auto& t : math_tasks()) {
    if (t.name == name) return t;
    known += (known.empty() ? "" : ", ") + t.name;
  }
  fail("unknown task \"" + name + "\" (known: " + known + ")");
}

std::string exemplar_file(const std::string& file) {
  for (const EmbeddedPrompt* p = kEmbeddedPrompts; p->name; ++p)
    if (file == p->name) return std::string(reinterpret_cast<const char*>(p->data), p->size);
  fail("exemplar file " + file + " is not compiled in (src/eval/harness/prompts/)");
}

std::string math_prompt(const MathTask& task, const std::string& question) {
  const std::string context =
      task.problem_layout ? "Problem:\n" + question + "\nSolution:" : "Question: " + question + "\nAnswer:";
  return py::strip(exemplar_file(task.exemplars)) + "\n\n\n" + context;
}

const std::vector<std::string>& math_stop_strings() {
  static const std::vector<std::string> stops = {"</s>", "\n\nQuestion:", "\n\nProblem:"};
  return stops;
}

MathItem parse_math_record(const MathTask& task, const nlohmann::json& record, const std::string& file, int64_t line) {
  const RecordReader rd{record, file, line, task.name};
  MathItem item;
  const std::string first_pass = gold_of(task, rd);  // math_eval.py's parse_ground_truth
  item.question = question_of(task, rd);
  const std::string low = py::lower_ascii(first_pass);
  if (low == "true" || low == "false") item.question += " (True or False)";
  if (low == "yes" || low == "no") item.question += " (Yes or No)";
  item.question = py::strip(item.question);
  // evaluate.py parses the saved sample again: it now has gt_cot and gt, and for minerva_math
  // and the other eight tasks that path is strip_string(gt).
  item.gold = harness::strip_string(first_pass);
  return item;
}

bool grade_math(const MathTask& task, const std::string& completion, const std::string& gold, std::string* extracted) {
  // math_eval.py: the output is right-stripped, cut from the prompt and stripped; run_execute
  // extracts and strip_string's the prediction once more.
  const std::string code = py::strip(completion);
  if (code.empty() || code == "error") {  // run_execute: `if not result or result == 'error'`
    if (extracted) extracted->clear();
    return false;
  }
  const std::string pred = harness::strip_string(harness::extract_answer(code, task.name));
  if (extracted) *extracted = pred;
  return harness::math_equal(pred, gold);
}

}  // namespace rho
