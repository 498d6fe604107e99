#pragma once

#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `invert` stage: none.
struct invert_options {};

/// The `invert` stage: a photographic negative of the colour bands (libvips
/// `invert`: 255 - v for 8-bit, 65535 - v for 16-bit); alpha is kept.
class invert_stage : public stage {
public:
  explicit invert_stage(invert_options) {
  }

  void process(image& img) override;
};

/// The spec of `invert`.
const spec_builder<invert_options>& invert_spec();

/// Adds `invert` to `registry`.
void register_invert(stage_registry& registry);

} // namespace pixline
