// A range of real values, [lo, hi] or (lo, hi]: the one way settings state and check theirs (the
// CLI's validators and the library's validate() both use it, so messages and limits agree).
#pragma once
#include <sstream>
#include <string>

namespace rho {

struct Bounds {
  double lo = 0, hi = 0;
  bool open_lo = false;
  bool contains(double v) const { return (open_lo ? v > lo : v >= lo) && v <= hi; }  // false for NaN
  std::string text() const {
    std::ostringstream s;
    s << (open_lo ? "(" : "[") << lo << ", " << hi << "]";
    return s.str();
  }
};

}  // namespace rho
