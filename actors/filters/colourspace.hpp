#pragma once

#include <string>

#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `colourspace` stage (libvips `colourspace`).
struct colourspace_options {
  /// One of the names colourspace_spec() lists ("srgb", "b-w", "lab", ...).
  std::string target;
};

/// The `colourspace` stage: converts the pixels to another colour space;
/// alpha is carried through.
class colourspace_stage : public stage {
public:
  /// Throws std::invalid_argument on an unknown target.
  explicit colourspace_stage(colourspace_options opts);

  void process(image& img) override;

private:
  VipsInterpretation target_;
};

/// The spec of `colourspace`: options, defaults, ranges and docs.
const spec_builder<colourspace_options>& colourspace_spec();

/// Adds `colourspace` to `registry`.
void register_colourspace(stage_registry& registry);

} // namespace pixline
