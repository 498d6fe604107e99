#pragma once

#include <string>

#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `blur` stage (libvips `gaussblur`).
struct blur_options {
  double sigma;
  double min_ampl;
  /// "integer", "float" or "approximate".
  std::string precision;
};

/// The `blur` stage: a Gaussian blur; alpha is premultiplied first so
/// transparent pixels do not bleed their colour into visible ones, and the
/// band format of the input is kept.
class blur_stage : public stage {
public:
  /// Throws std::invalid_argument when sigma is not positive or on an
  /// unknown precision.
  explicit blur_stage(blur_options opts);

  void process(image& img) override;

private:
  blur_options opts_;
  VipsPrecision precision_;
};

/// The spec of `blur`: options, defaults, ranges and docs.
const spec_builder<blur_options>& blur_spec();

/// Adds `blur` to `registry`.
void register_blur(stage_registry& registry);

} // namespace pixline
