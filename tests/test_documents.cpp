// Documents from JSONL and plain text: field joining, templates, and file:line errors.
#include <gtest/gtest.h>

#include "test_util.h"
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "data/documents.h"

namespace {

using rho_test::TempDir;
using rho_test::contains;
using rho_test::error_of;

std::vector<std::string> documents(const std::string& path, const rho::DocFormat& format) {
  std::vector<std::string> docs;
  rho::for_each_document(path, format, [&](const std::string& d) { docs.push_back(d); });
  return docs;
}

const char* kGsm =
    R"({"question": "Natalia sold 48 clips. How many?", "answer": "48/2 = 24\n#### 24"})"
    "\n"
    R"({"question": "Weng earns $12 an hour.", "answer": "12 x 1 = 12\n#### 12", "id": 7})"
    "\n";

rho::DocFormat fields(std::vector<std::string> names, std::string sep = "\n") {
  rho::DocFormat f;
  f.fields = std::move(names);
  f.field_sep = std::move(sep);
  return f;
}

}  // namespace

TEST(Documents, JsonlFieldsAreJoinedBySeparator) {
  TempDir dir;
  const auto path = dir.write("gsm.jsonl", kGsm);
  const auto docs = documents(path, fields({"question", "answer"}, " || "));
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0], "Natalia sold 48 clips. How many? || 48/2 = 24\n#### 24");
  EXPECT_EQ(docs[1], "Weng earns $12 an hour. || 12 x 1 = 12\n#### 12");
}

TEST(Documents, TemplateSubstitutesFieldsAndKeepsOtherBraces) {
  TempDir dir;
  const auto path = dir.write("gsm.jsonl", kGsm);
  rho::DocFormat f;
  f.template_ = "Q: {question}\nA: {answer} {} {not a field} {question}";
  const auto docs = documents(path, f);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0],
            "Q: Natalia sold 48 clips. How many?\nA: 48/2 = 24\n#### 24 {} {not a field} "
            "Natalia sold 48 clips. How many?");
}

TEST(Documents, TemplateWithoutFieldIsRejected) {
  TempDir dir;
  const auto path = dir.write("gsm.jsonl", kGsm);
  rho::DocFormat f;
  f.template_ = "no fields here";
  EXPECT_TRUE(contains(error_of([&] { documents(path, f); }), "names no {field}"));
}

TEST(Documents, BlankLinesAndCrlfInJsonlAreTolerated) {
  TempDir dir;
  const auto path = dir.write("crlf.jsonl", "\r\n{\"text\": \"a\"}\r\n\n  \n{\"text\": \"b\"}");
  EXPECT_EQ(documents(path, rho::DocFormat{}), (std::vector<std::string>{"a", "b"}));
}

TEST(Documents, MissingFieldNamesFileLineAndField) {
  TempDir dir;
  const auto path = dir.write("gsm.jsonl", kGsm);
  const auto msg = error_of([&] { documents(path, fields({"question", "solution"})); });
  EXPECT_EQ(msg, path + ": line 1: no field \"solution\"");
}

TEST(Documents, NonStringFieldIsAnError) {
  TempDir dir;
  const auto path = dir.write("num.jsonl", "{\"text\": \"ok\"}\n{\"text\": 7}\n");
  EXPECT_EQ(error_of([&] { documents(path, rho::DocFormat{}); }),
            path + ": line 2: field \"text\" is a number, not a string");
}

TEST(Documents, InvalidJsonAndNonObjectLinesNameTheLine) {
  TempDir dir;
  const auto bad = dir.write("bad.jsonl", "{\"text\": \"a\"}\n\n{\"text\": oops}\n");
  const auto msg = error_of([&] { documents(bad, rho::DocFormat{}); });
  EXPECT_TRUE(contains(msg, bad + ": line 3: invalid JSON")) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;

  const auto arr = dir.write("arr.jsonl", "[1, 2]\n");
  EXPECT_EQ(error_of([&] { documents(arr, rho::DocFormat{}); }), arr + ": line 1: not a JSON object");
}

TEST(Documents, MissingAndEmptyFilesAreErrors) {
  TempDir dir;
  const auto missing = dir.path + "/nope.jsonl";
  EXPECT_TRUE(contains(error_of([&] { documents(missing, rho::DocFormat{}); }), missing + ": cannot open"));
  const auto missing_txt = dir.path + "/nope.txt";
  EXPECT_TRUE(contains(error_of([&] { documents(missing_txt, rho::DocFormat{}); }), missing_txt + ": cannot open"));

  const auto empty = dir.write("empty.jsonl", "");
  EXPECT_EQ(error_of([&] { documents(empty, rho::DocFormat{}); }), empty + ": empty file");
  const auto blank = dir.write("blank.jsonl", "\n\n");
  EXPECT_EQ(error_of([&] { documents(blank, rho::DocFormat{}); }), blank + ": no JSON records");
}

TEST(Documents, PlainTextIsOneDocumentOrBlankLineBlocks) {
  TempDir dir;
  const std::string text = "First para\nline two\n\n\n  \nSecond para\n\nThird\n";
  const auto path = dir.write("book.txt", text);
  EXPECT_EQ(documents(path, rho::DocFormat{}), std::vector<std::string>{text});

  rho::DocFormat blocks;
  blocks.split_blank_lines = true;
  EXPECT_EQ(documents(path, blocks), (std::vector<std::string>{"First para\nline two", "Second para", "Third"}));
}

TEST(Documents, ReadJsonlFieldReturnsEveryRecordsValue) {
  TempDir dir;
  const auto path = dir.write("gsm.jsonl", kGsm);
  EXPECT_EQ(rho::read_jsonl_field(path, "answer"),
            (std::vector<std::string>{"48/2 = 24\n#### 24", "12 x 1 = 12\n#### 12"}));
  EXPECT_EQ(error_of([&] { rho::read_jsonl_field(path, "id"); }), path + ": line 1: no field \"id\"");
}

TEST(Documents, JsonlIsRecognisedByExtension) {
  EXPECT_TRUE(rho::is_jsonl_path("a/train.jsonl"));
  EXPECT_TRUE(rho::is_jsonl_path("x.json"));
  EXPECT_FALSE(rho::is_jsonl_path("book.txt"));
  EXPECT_FALSE(rho::is_jsonl_path("jsonl"));
}
