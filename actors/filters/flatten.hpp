#pragma once

#include <string>

#include "actors/filters/pixels.hpp"
#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `flatten` stage (libvips `flatten`).
struct flatten_options {
  /// "#rrggbb", "#rgb", "r,g,b" or one grey value, each 0 .. 255.
  std::string background;
};

/// The `flatten` stage: blends the image over a solid background and drops
/// its alpha band; images without alpha pass unchanged.
class flatten_stage : public stage {
public:
  /// Throws std::invalid_argument, naming the option, on a malformed colour.
  explicit flatten_stage(flatten_options opts);

  void process(image& img) override;

private:
  rgb_colour background_;
};

/// The spec of `flatten`: options, defaults, ranges and docs.
const spec_builder<flatten_options>& flatten_spec();

/// Adds `flatten` to `registry`.
void register_flatten(stage_registry& registry);

} // namespace pixline
