#pragma once

#include <string>

#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `flip` stage (libvips `flip`).
struct flip_options {
  /// "horizontal" (mirror left to right) or "vertical" (upside down).
  std::string direction;
};

/// The `flip` stage: mirrors the image.
class flip_stage : public stage {
public:
  /// Throws std::invalid_argument on an unknown direction.
  explicit flip_stage(flip_options opts);

  void process(image& img) override;

private:
  VipsDirection direction_;
};

/// The spec of `flip`: options, defaults, ranges and docs.
const spec_builder<flip_options>& flip_spec();

/// Adds `flip` to `registry`.
void register_flip(stage_registry& registry);

} // namespace pixline
