#pragma once

#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `extract` stage (libvips `extract_area`).
struct extract_options {
  int left;
  int top;
  int width;
  int height;
};

/// The `extract` stage: cuts out an explicit rectangle. Unlike `crop`, it
/// has no gravity: the rectangle is always where left/top say.
class extract_stage : public stage {
public:
  /// Throws std::invalid_argument when width or height is not set (0).
  explicit extract_stage(extract_options opts);

  /// Throws stage_error, naming the rectangle and the image size, when the
  /// rectangle does not lie inside the image.
  void process(image& img) override;

private:
  extract_options opts_;
};

/// The spec of `extract`: options, defaults, ranges and docs.
const spec_builder<extract_options>& extract_spec();

/// Adds `extract` to `registry`.
void register_extract(stage_registry& registry);

} // namespace pixline
