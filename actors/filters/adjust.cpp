#include "actors/filters/adjust.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "actors/filters/pixels.hpp"
#include "pipeline/registry.hpp"

namespace pixline {

const spec_builder<adjust_options>& adjust_spec() {
  static const auto spec
    = spec_builder<adjust_options>(
        "adjust",
        "Brightness, contrast and gamma of the colour bands; 8-bit stays "
        "8-bit and alpha is kept (libvips linear and pow)")
        .example("[[filter]]\ntype = \"adjust\"\nbrightness = 0.1\n"
                 "contrast = 1.2\ngamma = 1.1")
        .number("brightness", &adjust_options::brightness, 0.0, -1.0, 1.0,
                "Added to every colour band as a fraction of full range: "
                "0.1 adds 25.5 to an 8-bit image, -1 makes it black")
        .number("contrast", &adjust_options::contrast, 1.0, 0.0, 10.0,
                "Multiplies each band's distance from mid-grey: 1 leaves it, "
                "0 makes the image flat grey, 2 doubles the contrast")
        .number("gamma", &adjust_options::gamma, 1.0, 0.1, 10.0,
                "Applied after brightness and contrast as "
                "max * (v / max)^(1 / gamma): above 1 lightens the mid-tones, "
                "below 1 darkens them; black and white stay");
  return spec;
}

void register_adjust(stage_registry& registry) {
  registry.add(adjust_spec().filter<adjust_stage>());
}

adjust_stage::adjust_stage(adjust_options opts) : opts_(opts) {
  if (!(opts_.gamma > 0))
    throw std::invalid_argument(
      fmt::format("option 'gamma' must be above 0, got {}", opts_.gamma));
}

void adjust_stage::process(image& img) {
  if (opts_.brightness == 0 && opts_.contrast == 1 && opts_.gamma == 1)
    return;
  double max = max_value_of(img.pixels);
  double mid = max / 2;
  auto adjust = [&](const vips::VImage& colour) {
    auto out = colour.linear(opts_.contrast, mid * (1 - opts_.contrast)
                                               + opts_.brightness * max);
    if (opts_.gamma == 1)
      return out;
    // A negative base has no real power: clip to 0 .. 1 first.
    auto unit = out / max;
    unit = (unit < 0.0).ifthenelse(0.0, unit);
    unit = (unit > 1.0).ifthenelse(1.0, unit);
    return unit.pow(1 / opts_.gamma) * max;
  };
  img.pixels = on_colour_bands(img.pixels, adjust);
}

} // namespace pixline
