#pragma once

#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `modulate` stage.
struct modulate_options {
  /// Multiplies lightness (L).
  double brightness;
  /// Multiplies chroma (C).
  double saturation;
  /// Degrees added to the hue angle (h).
  double hue;
  /// Added to lightness after `brightness`, in L units (0 .. 100).
  double lightness;
};

/// The `modulate` stage: brightness, saturation and hue in CIE LCh, as
/// sharp's modulate does; the image goes back to its own colour space and
/// band format, and alpha is kept.
class modulate_stage : public stage {
public:
  explicit modulate_stage(modulate_options opts) : opts_(opts) {
  }

  void process(image& img) override;

private:
  modulate_options opts_;
};

/// The spec of `modulate`: options, defaults, ranges and docs.
const spec_builder<modulate_options>& modulate_spec();

/// Adds `modulate` to `registry`.
void register_modulate(stage_registry& registry);

} // namespace pixline
