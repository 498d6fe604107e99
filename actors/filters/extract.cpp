#include "actors/filters/extract.hpp"

#include <cstdint>
#include <stdexcept>

#include <fmt/format.h>

#include "actors/filters/pixels.hpp"
#include "pipeline/registry.hpp"

namespace pixline {

const spec_builder<extract_options>& extract_spec() {
  static const auto spec
    = spec_builder<extract_options>(
        "extract",
        "Cut out the rectangle at left/top of width x height pixels "
        "(libvips extract_area)")
        .example("[[filter]]\ntype = \"extract\"\nleft = 100\ntop = 50\n"
                 "width = 640\nheight = 480")
        .integer("left", &extract_options::left, 0, 0, 100000,
                 "Left edge of the rectangle, in pixels from the image's left")
        .integer("top", &extract_options::top, 0, 0, 100000,
                 "Top edge of the rectangle, in pixels from the image's top")
        .integer("width", &extract_options::width, 0, 0, 100000,
                 "Width of the rectangle; required (0, not set, is an error)")
        .integer("height", &extract_options::height, 0, 0, 100000,
                 "Height of the rectangle; required (0, not set, is an "
                 "error)")
        .validate([](const extract_options& o) {
          check_region(o.width, o.height, o.left, o.top);
        });
  return spec;
}

void register_extract(stage_registry& registry) {
  registry.add(extract_spec().filter<extract_stage>());
}

extract_stage::extract_stage(extract_options opts) : opts_(opts) {
  extract_spec().enforce(opts_);
}

void extract_stage::process(image& img) {
  int image_w = img.pixels.width();
  int image_h = img.pixels.height();
  // In 64 bits: left + width may overflow int.
  if (std::int64_t{opts_.left} + opts_.width > image_w
      || std::int64_t{opts_.top} + opts_.height > image_h)
    throw stage_error(fmt::format(
      "extract rectangle {}x{} at left {}, top {} (reaching {}, {}) lies "
      "outside the {}x{} image",
      opts_.width, opts_.height, opts_.left, opts_.top,
      std::int64_t{opts_.left} + opts_.width,
      std::int64_t{opts_.top} + opts_.height, image_w, image_h));
  img.pixels = img.pixels.extract_area(opts_.left, opts_.top, opts_.width,
                                       opts_.height);
}

} // namespace pixline
