#pragma once

#include <optional>
#include <string>

#include "actors/filters/pixels.hpp"
#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `crop` stage (libvips `extract_area`).
struct crop_options {
  int width;
  int height;
  int left;
  int top;
  /// "none" (use left/top), "centre", "north", "south", "east", "west",
  /// "north-east", "north-west", "south-east" or "south-west".
  std::string gravity;
};

/// The `crop` stage: cuts a width x height box out of the image, at
/// left/top or placed by gravity.
class crop_stage : public stage {
public:
  /// Throws std::invalid_argument when width or height is not set (0) or
  /// negative, or on an unknown gravity.
  explicit crop_stage(crop_options opts);

  /// Throws stage_error, naming the box and the image size, when the box
  /// does not fit in the image.
  void process(image& img) override;

  /// Where a gravity puts the box (see pixline::gravity).
  using placement = gravity;

private:
  crop_options opts_;
  /// Empty for gravity "none".
  std::optional<placement> place_;
};

/// The spec of `crop`: options, defaults, ranges and docs.
const spec_builder<crop_options>& crop_spec();

/// Adds `crop` to `registry`.
void register_crop(stage_registry& registry);

} // namespace pixline
