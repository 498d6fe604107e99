#include "actors/filters/sharpen.hpp"

#include "pipeline/registry.hpp"

namespace pixline {

const spec_builder<sharpen_options>& sharpen_spec() {
  static const auto spec
    = spec_builder<sharpen_options>("sharpen",
                                    "Sharpen edges with an unsharp mask on "
                                    "lightness in LAB, so no colour fringes "
                                    "(libvips sharpen); much more CPU "
                                    "than unsharp")
        .example("[[filter]]\ntype = \"sharpen\"\nsigma = 0.5")
        .number("sigma", &sharpen_options::sigma, 0.5, 0.000001, 10.0,
                "Sigma of the Gaussian mask, in pixels of the output")
        .number("x1", &sharpen_options::x1, 2.0, 0.0, 1000000.0,
                "Flat/jaggy threshold: edges weaker than this are treated "
                "as flat")
        .number("m1", &sharpen_options::m1, 0.0, 0.0, 1000000.0,
                "Slope (amount of sharpening) for flat areas")
        .number("m2", &sharpen_options::m2, 3.0, 0.0, 1000000.0,
                "Slope (amount of sharpening) for jaggy areas");
  return spec;
}

void register_sharpen(stage_registry& registry) {
  registry.add(sharpen_spec().filter<sharpen_stage>());
}

void sharpen_stage::process(image& img) {
  img.pixels = img.pixels.sharpen(vips::VImage::option()
                                    ->set("sigma", opts_.sigma)
                                    ->set("x1", opts_.x1)
                                    ->set("m1", opts_.m1)
                                    ->set("m2", opts_.m2));
}

} // namespace pixline
