#pragma once

#include <string>

#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `icc` stage (libvips `icc_transform`).
struct icc_options {
  /// Target: a built-in profile ("srgb", "p3", "cmyk") or an .icc file.
  std::string profile;
  /// Profile assumed for images without an embedded one.
  std::string input_profile;
  /// "perceptual", "relative", "saturation" or "absolute".
  std::string intent;
  bool black_point_compensation;
};

/// The `icc` stage: converts the pixels from their embedded profile (or the
/// input profile) to the target profile and attaches the target profile.
/// Alpha is kept; 16-bit images stay 16-bit.
class icc_stage : public stage {
public:
  /// Throws std::invalid_argument when a profile is neither built in nor a
  /// readable ICC file, or on an unknown intent.
  explicit icc_stage(icc_options opts);

  void process(image& img) override;

private:
  icc_options opts_;
  VipsIntent intent_;
};

/// The spec of `icc`: options, defaults and docs.
const spec_builder<icc_options>& icc_spec();

/// Adds `icc` to `registry`.
void register_icc(stage_registry& registry);

} // namespace pixline
