#pragma once

#include <string>

#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `resize` stage (libvips `resize`). Exactly one of `scale`
/// or `width`/`height` is set; 0 means "not set".
struct resize_options {
  int width;
  int height;
  double scale;
  /// "both" resizes either way, "down" only shrinks, "up" only enlarges
  /// (each axis: a factor the other way becomes 1).
  std::string size;
  /// "nearest", "linear", "cubic", "mitchell", "lanczos2" or "lanczos3".
  std::string kernel;
  /// libvips' reducing gap: shrink by whole factors with a box filter first,
  /// leaving at least `gap` times the output size for the kernel; 0 lets the
  /// kernel do the whole reduction.
  double gap;
};

/// The `resize` stage: by a factor, to a width or height keeping the aspect
/// ratio, or to an exact width x height box.
class resize_stage : public stage {
public:
  /// Throws std::invalid_argument when neither or both of `scale` and
  /// `width`/`height` are set, when `scale` is out of range, or on an unknown
  /// kernel.
  explicit resize_stage(resize_options opts);

  void process(image& img) override;

private:
  resize_options opts_;
  VipsKernel kernel_;
};

/// The spec of `resize`: options, defaults, ranges and docs.
const spec_builder<resize_options>& resize_spec();

/// Adds `resize` to `registry`.
void register_resize(stage_registry& registry);

} // namespace pixline
