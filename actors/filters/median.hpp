#pragma once

#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `median` stage.
struct median_options {
  /// Side of the square window, odd.
  int size;
};

/// The `median` stage: each pixel becomes the median of the size x size
/// window around it, band by band (libvips rank); removes salt-and-pepper
/// noise while keeping edges. Alpha is left as it is.
class median_stage : public stage {
public:
  /// Throws std::invalid_argument when size is even or out of range.
  explicit median_stage(median_options opts);

  void process(image& img) override;

private:
  median_options opts_;
};

/// The spec of `median`.
const spec_builder<median_options>& median_spec();

/// Adds `median` to `registry`.
void register_median(stage_registry& registry);

} // namespace pixline
