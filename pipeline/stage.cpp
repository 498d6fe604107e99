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

std::string failure_text(const std::exception& error) {
  if (auto v = dynamic_cast<const vips::VError*>(&error))
    return vips_error_text(*v);
  std::string text = error.what();
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  return text.empty() ? "unknown error" : text;
}

} // namespace pixline
