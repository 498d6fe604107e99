#include "pipeline/stage.hpp"

namespace pixline {

namespace {

/// Longest error message kept whole; decoders can pile up kilobytes of
/// warnings (libtiff's, one per bad tag) in front of the reason.
constexpr std::size_t longest_message = 1000;

/// `text` cut to longest_message characters (at a UTF-8 character
/// boundary), saying how much was left out.
std::string shortened(std::string text) {
  if (text.size() <= longest_message)
    return text;
  auto cut = longest_message;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
    --cut;
  auto dropped = text.size() - cut;
  text.resize(cut);
  return text + " ... (" + std::to_string(dropped)
         + " more characters of messages left out)";
}

} // namespace

std::string vips_error_text(const vips::VError& error) {
  std::string text = error.what();
  vips_error_clear();
  for (auto& c : text)
    if (c == '\n')
      c = ' ';
  while (!text.empty() && text.back() == ' ')
    text.pop_back();
  // libvips has one error buffer per process: when two images fail at once
  // in one process (isolation = "thread"), one report can carry both
  // messages and the other none. A worker process works on one image.
  if (text.empty())
    text = "libvips failed without a message (with isolation = \"thread\", "
           "another image failing at the same moment may have taken it)";
  return shortened(std::move(text));
}

std::string failure_text(const std::exception& error) {
  if (auto v = dynamic_cast<const vips::VError*>(&error))
    return vips_error_text(*v);
  std::string text = error.what();
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  return text.empty() ? "unknown error" : shortened(std::move(text));
}

} // namespace pixline
