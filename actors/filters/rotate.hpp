#pragma once

#include <string>
#include <vector>

#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `rotate` stage (libvips `rot` for right angles, `rotate`
/// otherwise).
struct rotate_options {
  /// Degrees clockwise; negative turns anticlockwise.
  double angle;
  /// Comma-separated band values for the uncovered corners, e.g. "0,0,0".
  std::string background;
};

/// The `rotate` stage. Multiples of 90 degrees are exact (no resampling);
/// other angles resample and enlarge the image to hold the rotated corners.
class rotate_stage : public stage {
public:
  /// Throws std::invalid_argument when `background` is not a list of
  /// numbers.
  explicit rotate_stage(rotate_options opts);

  /// Throws stage_error when `background` cannot be matched to the image's
  /// bands.
  void process(image& img) override;

private:
  rotate_options opts_;
  /// The angle in [0, 360).
  double angle_;
  std::vector<double> background_;
};

/// The background for an image with `bands` bands, `alpha` telling whether
/// the last one is alpha and `max_alpha` its opaque value: as given when
/// there is one value per band; one value, or all values equal, fill every
/// colour band; a missing alpha is opaque. Throws stage_error otherwise.
std::vector<double> background_for_bands(const std::vector<double>& values,
                                         int bands, bool alpha,
                                         double max_alpha);

/// The spec of `rotate`: options, defaults, ranges and docs.
const spec_builder<rotate_options>& rotate_spec();

/// Adds `rotate` to `registry`.
void register_rotate(stage_registry& registry);

} // namespace pixline
