#include "actors/filters/flip.hpp"

#include "actors/filters/pixels.hpp"
#include "pipeline/registry.hpp"

namespace pixline {

namespace {

const choice_table<VipsDirection, 2> direction_names = {
  {"horizontal", VIPS_DIRECTION_HORIZONTAL},
  {"vertical", VIPS_DIRECTION_VERTICAL},
};

} // namespace

const spec_builder<flip_options>& flip_spec() {
  static const auto spec
    = spec_builder<flip_options>("flip",
                                 "Mirror the image left to right or upside "
                                 "down (libvips flip)")
        .example("[[filter]]\ntype = \"flip\"\ndirection = \"vertical\"")
        // An upside-down image is produced bottom row first.
        .random_access()
        .choice("direction", &flip_options::direction, "horizontal",
                choice_names(direction_names),
                "'horizontal' swaps left and right, 'vertical' swaps top and "
                "bottom");
  return spec;
}

void register_flip(stage_registry& registry) {
  registry.add(flip_spec().filter<flip_stage>());
}

flip_stage::flip_stage(flip_options opts)
  : direction_(choice_value("direction", direction_names, opts.direction)) {
}

void flip_stage::process(image& img) {
  img.pixels = img.pixels.flip(direction_);
}

} // namespace pixline
