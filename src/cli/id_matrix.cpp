#include "cli/id_matrix.h"

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace rho {

IdMatrix parse_id_matrix(const std::string& text, const std::string& where, int64_t vocab_size) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail_file(where, std::string("invalid JSON: ") + e.what());
  }
  const char* shape = "must be a JSON array of rows of token ids, e.g. [[1, 2, 3], [4, 5, 6]]";
  if (!j.is_array() || j.empty()) fail_file(where, shape);
  IdMatrix m;
  m.rows = int64_t(j.size());
  for (size_t r = 0; r < j.size(); ++r) {
    const auto& row = j[r];
    if (!row.is_array() || row.empty()) fail_file(where, shape);
    if (r == 0) m.cols = int64_t(row.size());
    if (int64_t(row.size()) != m.cols)
      fail_file(where, "row " + std::to_string(r) + " has " + std::to_string(row.size()) + " ids, row 0 has " +
                           std::to_string(m.cols) + " (rows must have equal length)");
    for (size_t c = 0; c < row.size(); ++c) {
      const auto& v = row[c];
      // Integers only: 3.0 or "3" is a sign the file is not what the caller thinks. Compared
      // as unsigned first: a huge id must not wrap into range.
      int64_t id = -1;
      if (v.is_number_unsigned()) id = v.get<uint64_t>() < uint64_t(vocab_size) ? int64_t(v.get<uint64_t>()) : -1;
      else if (v.is_number_integer()) id = v.get<int64_t>();
      if (id < 0 || id >= vocab_size)
        fail_file(where, "entry [" + std::to_string(r) + "][" + std::to_string(c) + "] = " + v.dump() +
                             " is not a token id of this model (0.." + std::to_string(vocab_size - 1) + ")");
      m.ids.push_back(id);
    }
  }
  return m;
}

}  // namespace rho
