#include "actors/filters/autorotate.hpp"

#include "pipeline/registry.hpp"

namespace pixline {

const spec_builder<autorotate_options>& autorotate_spec() {
  static const auto spec
    = spec_builder<autorotate_options>(
        "autorotate",
        "Turn the image upright from its EXIF orientation and remove the "
        "orientation tag (libvips autorot)")
        .example("[[filter]]\ntype = \"autorotate\"")
        .random_access();
  return spec;
}

void register_autorotate(stage_registry& registry) {
  registry.add(autorotate_spec().filter<autorotate_stage>());
}

void autorotate_stage::process(image& img) {
  img.pixels = img.pixels.autorot();
}

} // namespace pixline
