#include "actors/filters/grayscale.hpp"

#include "pipeline/registry.hpp"

namespace pixline {

const spec_builder<grayscale_options>& grayscale_spec() {
  static const auto spec
    = spec_builder<grayscale_options>(
        "grayscale",
        "Convert to one grey band (plus alpha, if any); 16-bit images stay "
        "16-bit (libvips colourspace b-w)")
        .example("[[filter]]\ntype = \"grayscale\"");
  return spec;
}

void register_grayscale(stage_registry& registry) {
  registry.add(grayscale_spec().filter<grayscale_stage>());
}

void grayscale_stage::process(image& img) {
  auto& in = img.pixels;
  auto space = in.guess_interpretation();
  bool deep = space == VIPS_INTERPRETATION_RGB16
              || space == VIPS_INTERPRETATION_GREY16;
  // colourspace carries alpha (and any other extra band) through.
  img.pixels = in.colourspace(deep ? VIPS_INTERPRETATION_GREY16
                                   : VIPS_INTERPRETATION_B_W,
                              vips::VImage::option()->set("source_space",
                                                          space));
}

} // namespace pixline
