#pragma once

#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `autorotate` stage: none.
struct autorotate_options {};

/// The `autorotate` stage (libvips `autorot`): turns the image upright from
/// its EXIF orientation and removes the orientation tag, so viewers do not
/// turn it again.
class autorotate_stage : public stage {
public:
  explicit autorotate_stage(autorotate_options) {
  }

  void process(image& img) override;
};

/// The spec of `autorotate`.
const spec_builder<autorotate_options>& autorotate_spec();

/// Adds `autorotate` to `registry`.
void register_autorotate(stage_registry& registry);

} // namespace pixline
