#include "actors/filters/invert.hpp"

#include "actors/filters/pixels.hpp"
#include "pipeline/registry.hpp"

namespace pixline {

const spec_builder<invert_options>& invert_spec() {
  static const auto spec
    = spec_builder<invert_options>(
        "invert",
        "Make a negative: each colour band v becomes max - v (255 - v for "
        "8-bit images); alpha is kept (libvips invert)")
        .example("[[filter]]\ntype = \"invert\"");
  return spec;
}

void register_invert(stage_registry& registry) {
  registry.add(invert_spec().filter<invert_stage>());
}

void invert_stage::process(image& img) {
  if (img.pixels.interpretation() == VIPS_INTERPRETATION_scRGB) {
    // libvips negates float pixels; scRGB runs 0 .. 1.
    img.pixels = on_colour_bands(
      img.pixels, [](const vips::VImage& c) { return c.linear(-1.0, 1.0); });
    return;
  }
  img.pixels = on_colour_bands(img.pixels,
                               [](const vips::VImage& c) { return c.invert(); });
}

} // namespace pixline
