#include "pipeline/stage.hpp"

namespace pixline {

std::string vips_error_text(const vips::VError& error) {
  std::string text = error.what();
  vips_error_clear();
  for (auto& c : text)
    if (c == '\n')
      c = ' ';
  while (!text.empty() && text.back() == ' ')
    text.pop_back();
  return text;
}

} // namespace pixline
