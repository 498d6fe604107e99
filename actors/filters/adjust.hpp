#pragma once

#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `adjust` stage.
struct adjust_options {
  /// Added to every colour band, as a fraction of full range (-1 .. 1).
  double brightness;
  /// Multiplies the distance of every colour band from mid-grey.
  double contrast;
  /// out = max · (in / max)^(1 / gamma), after brightness and contrast.
  double gamma;
};

/// The `adjust` stage: brightness and contrast as one linear transform of
/// the colour bands (libvips `linear`), then an optional gamma curve. The
/// band format is kept (8-bit stays 8-bit, values are clipped) and alpha is
/// left alone.
class adjust_stage : public stage {
public:
  /// Throws std::invalid_argument when gamma is not positive.
  explicit adjust_stage(adjust_options opts);

  void process(image& img) override;

private:
  adjust_options opts_;
};

/// The spec of `adjust`: options, defaults, ranges and docs.
const spec_builder<adjust_options>& adjust_spec();

/// Adds `adjust` to `registry`.
void register_adjust(stage_registry& registry);

} // namespace pixline
