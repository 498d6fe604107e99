#pragma once

#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `unsharp` stage.
struct unsharp_options {
  /// Sigma of the Gaussian blur the image is compared with, in pixels.
  double radius;
  /// How much of the difference is added back: 1 = 100%.
  double amount;
  /// Differences below this, in 8-bit levels (0 .. 255), are left alone.
  double threshold;
};

/// The `unsharp` stage: the classic unsharp mask on each colour band, as
/// ImageMagick's `-unsharp` and Pillow's `UnsharpMask` do it:
/// out = in + amount × (in − gaussblur(in, radius)) where that difference
/// reaches `threshold`. Alpha is left as it is. Much cheaper than `sharpen`,
/// which works on lightness in LAB.
class unsharp_stage : public stage {
public:
  explicit unsharp_stage(unsharp_options opts) : opts_(opts) {
  }

  void process(image& img) override;

private:
  unsharp_options opts_;
};

/// The spec of `unsharp`: options, defaults, ranges and docs.
const spec_builder<unsharp_options>& unsharp_spec();

/// Adds `unsharp` to `registry`.
void register_unsharp(stage_registry& registry);

} // namespace pixline
