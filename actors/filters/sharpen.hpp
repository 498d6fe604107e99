#pragma once

#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `sharpen` stage (libvips `sharpen`, an unsharp mask on the
/// L channel of LAB).
struct sharpen_options {
  double sigma;
  double x1;
  double m1;
  double m2;
};

/// The `sharpen` stage.
class sharpen_stage : public stage {
public:
  explicit sharpen_stage(sharpen_options opts) : opts_(opts) {
  }

  void process(image& img) override;

private:
  sharpen_options opts_;
};

/// The spec of `sharpen`: options, defaults, ranges and docs.
const spec_builder<sharpen_options>& sharpen_spec();

/// Adds `sharpen` to `registry`.
void register_sharpen(stage_registry& registry);

} // namespace pixline
