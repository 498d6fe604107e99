#include "actors/filters/colourspace.hpp"

#include "actors/filters/cmyk.hpp"
#include "actors/filters/pixels.hpp"
#include "pipeline/registry.hpp"

namespace pixline {

namespace {

// The one list of target names: the spec shows them, the stage maps them.
const choice_table<VipsInterpretation, 10> target_names = {
  {"srgb", VIPS_INTERPRETATION_sRGB},    {"b-w", VIPS_INTERPRETATION_B_W},
  {"rgb16", VIPS_INTERPRETATION_RGB16},  {"grey16", VIPS_INTERPRETATION_GREY16},
  {"scrgb", VIPS_INTERPRETATION_scRGB},  {"cmyk", VIPS_INTERPRETATION_CMYK},
  {"lab", VIPS_INTERPRETATION_LAB},      {"lch", VIPS_INTERPRETATION_LCH},
  {"xyz", VIPS_INTERPRETATION_XYZ},      {"hsv", VIPS_INTERPRETATION_HSV},
};

} // namespace

const spec_builder<colourspace_options>& colourspace_spec() {
  static const auto spec
    = spec_builder<colourspace_options>(
        "colourspace",
        "Convert to another colour space; alpha is kept (libvips "
        "colourspace)")
        .example("[[filter]]\ntype = \"colourspace\"\ntarget = \"b-w\"")
        .choice("target", &colourspace_options::target, "srgb",
                choice_names(target_names),
                "'srgb' and 'b-w' are 8-bit, 'rgb16' and 'grey16' 16-bit, "
                "'cmyk' 8-bit through libvips' built-in CMYK profile; "
                "'scrgb' (linear light), 'lab', 'lch', 'xyz' are float and "
                "'hsv' 8-bit, for formats that can store them (TIFF, vips) "
                "or for stages that work in that space");
  return spec;
}

void register_colourspace(stage_registry& registry) {
  registry.add(colourspace_spec().filter<colourspace_stage>());
}

colourspace_stage::colourspace_stage(colourspace_options opts)
  : target_(choice_value("target", target_names, opts.target)) {
}

void colourspace_stage::process(image& img) {
  img.pixels = colourspace_of(img.pixels, target_,
                              img.pixels.guess_interpretation());
}

} // namespace pixline
