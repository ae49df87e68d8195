#include "common/text_format.h"

#include <iomanip>
#include <sstream>

namespace seedforge {

std::string fixed(double value, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << value;
  return s.str();
}

std::string scientific(double value, int digits) {
  std::ostringstream s;
  s << std::scientific << std::setprecision(digits) << value;
  return s.str();
}

}  // namespace seedforge
