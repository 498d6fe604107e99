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
  // libvips has one error buffer per process: when two images fail at once,
  // one report can carry both messages and the other none.
  if (text.empty())
    text = "libvips failed without a message (another image failing at the "
           "same moment may have taken it)";
  return text;
}

} // namespace pixline
