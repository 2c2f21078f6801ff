// `rho tokenizer encode/decode --input FILE`: texts to id arrays and back, one record per line,
// streamed so files of any size run in constant memory.
#pragma once
#include <string>

#include "tokenizer/tokenizer.h"

namespace rho::cli {

// One JSON array of ids per record on stdout. JSONL files (.jsonl/.json): each non-blank line is
// an object whose `field` string is the text; any other file: each line is a text (without its
// '\n'). UserError naming FILE:LINE for a record that is not what it should be.
void encode_file(const Tokenizer& tok, const std::string& path, const std::string& field, bool add_special);

// Each line a JSON array of ids; one JSON string per line on stdout.
void decode_file(const Tokenizer& tok, const std::string& path);

}  // namespace rho::cli
