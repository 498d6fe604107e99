#pragma once

#include <string>

#include "actors/filters/pixels.hpp"
#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `watermark` stage.
struct watermark_options {
  /// The overlay image (a PNG with alpha, typically).
  std::string image;
  double opacity;
  /// "centre", "north", ..., "south-east"; ignored when tiling.
  std::string gravity;
  /// Distance from the edges the gravity keeps to, in pixels.
  int margin;
  /// Overlay width as a fraction of the image's width; 0 keeps its size.
  double scale;
  /// Repeat the overlay over the whole image.
  bool tile;
};

/// The `watermark` stage: composites an image (a logo) over each image, at
/// a gravity position or tiled, with an opacity. The overlay is read and
/// decoded once, when the stage is built; band count, band format and
/// colour space of each image are kept (see composite_over).
class watermark_stage : public stage {
public:
  /// Throws std::invalid_argument when the overlay cannot be read or on an
  /// unknown gravity.
  explicit watermark_stage(watermark_options opts);

  void process(image& img) override;

private:
  watermark_options opts_;
  gravity place_;
  /// The overlay: 8-bit sRGB with alpha, opacity applied, in memory.
  vips::VImage overlay_;
};

/// The spec of `watermark`.
const spec_builder<watermark_options>& watermark_spec();

/// Adds `watermark` to `registry`.
void register_watermark(stage_registry& registry);

} // namespace pixline
