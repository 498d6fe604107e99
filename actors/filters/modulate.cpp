#include "actors/filters/modulate.hpp"

#include <vector>

#include "actors/filters/pixels.hpp"
#include "pipeline/registry.hpp"

namespace pixline {

const spec_builder<modulate_options>& modulate_spec() {
  static const auto spec
    = spec_builder<modulate_options>(
        "modulate",
        "Brightness, saturation and hue rotation in CIE LCh, like sharp's "
        "modulate; alpha and band format are kept")
        .example("[[filter]]\ntype = \"modulate\"\nsaturation = 1.3\n"
                 "hue = 90")
        .number("brightness", &modulate_options::brightness, 1.0, 0.0, 10.0,
                "Multiplies lightness: 1 leaves it, 0.5 halves it")
        .number("saturation", &modulate_options::saturation, 1.0, 0.0, 10.0,
                "Multiplies chroma: 0 gives grey, 2 doubles the colourfulness")
        .number("hue", &modulate_options::hue, 0.0, -360.0, 360.0,
                "Degrees to turn the hue angle: 180 swaps red and cyan")
        .number("lightness", &modulate_options::lightness, 0.0, -100.0,
                100.0,
                "Added to lightness after 'brightness', in L units "
                "(black 0 .. white 100)");
  return spec;
}

void register_modulate(stage_registry& registry) {
  registry.add(modulate_spec().filter<modulate_stage>());
}

void modulate_stage::process(image& img) {
  if (opts_.brightness == 1 && opts_.saturation == 1 && opts_.hue == 0
      && opts_.lightness == 0)
    return;
  auto space = img.pixels.guess_interpretation();
  auto modulate = [&](const vips::VImage& colour) {
    auto lch = colour.colourspace(
      VIPS_INTERPRETATION_LCH,
      vips::VImage::option()->set("source_space", space));
    lch = lch.linear(std::vector<double>{opts_.brightness, opts_.saturation, 1},
                     std::vector<double>{opts_.lightness, 0, opts_.hue});
    return lch.colourspace(space, vips::VImage::option()->set(
                                    "source_space", VIPS_INTERPRETATION_LCH));
  };
  img.pixels = on_colour_bands(img.pixels, modulate);
}

} // namespace pixline
