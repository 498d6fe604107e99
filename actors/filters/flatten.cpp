#include "actors/filters/flatten.hpp"

#include "pipeline/registry.hpp"

namespace pixline {

const spec_builder<flatten_options>& flatten_spec() {
  static const auto spec
    = spec_builder<flatten_options>(
        "flatten",
        "Remove alpha by blending the image over a background colour "
        "(libvips flatten)")
        .example("[[filter]]\ntype = \"flatten\"\nbackground = \"#ffffff\"")
        .text("background", &flatten_options::background, "#ffffff",
              "Colour under the image: \"#rrggbb\", \"#rgb\", \"r,g,b\" or "
              "one grey value, each 0 .. 255 (16-bit images scale it; grey "
              "images take its luma)");
  return spec;
}

void register_flatten(stage_registry& registry) {
  registry.add(flatten_spec().filter<flatten_stage>());
}

flatten_stage::flatten_stage(flatten_options opts)
  : background_(parse_colour("background", opts.background)) {
}

void flatten_stage::process(image& img) {
  auto& in = img.pixels;
  if (!in.has_alpha())
    return;
  auto format = in.format();
  img.pixels = cast_rounded(
    in.flatten(vips::VImage::option()
                 ->set("background", colour_for(in, background_, false))
                 ->set("max_alpha", max_value_of(in))),
    format);
}

} // namespace pixline
