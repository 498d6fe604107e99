#include "actors/io/formats/formats.hpp"

#include <algorithm>

namespace pixline {

const std::vector<output_format>& output_formats() {
  static const std::vector<output_format> all = {
    jpeg_format(), png_format(),  webp_format(), avif_format(),
    heif_format(), tiff_format(), jxl_format(),  gif_format()};
  return all;
}

const output_format* find_output_format(const std::string& name) {
  auto& all = output_formats();
  auto it = std::find_if(all.begin(), all.end(),
                         [&](const output_format& f) { return f.name == name; });
  return it == all.end() ? nullptr : &*it;
}

} // namespace pixline
