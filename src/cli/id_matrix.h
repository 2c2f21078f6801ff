// A matrix of token ids written as JSON, `[[1, 2, 3], [4, 5, 6]]`: B rows of equal length L.
// `rho model logits` reads its input this way, so ids from any other implementation (a Python
// tokenizer, transformers) can be fed to rho unchanged.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace rho {

struct IdMatrix {
  int64_t rows = 0, cols = 0;  // B, L
  std::vector<int64_t> ids;    // row-major, rows * cols
};

// UserError naming `where` unless the text is a non-empty array of non-empty arrays of equal
// length whose entries are integers in [0, vocab_size).
IdMatrix parse_id_matrix(const std::string& text, const std::string& where, int64_t vocab_size);

}  // namespace rho
