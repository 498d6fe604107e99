#pragma once

#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `grayscale` stage: none.
struct grayscale_options {};

/// The `grayscale` stage: converts to one grey band (libvips `colourspace`
/// to B_W, or GREY16 for 16-bit input), alpha kept as a second band.
class grayscale_stage : public stage {
public:
  explicit grayscale_stage(grayscale_options) {
  }

  void process(image& img) override;
};

/// The spec of `grayscale`.
const spec_builder<grayscale_options>& grayscale_spec();

/// Adds `grayscale` to `registry`.
void register_grayscale(stage_registry& registry);

} // namespace pixline
