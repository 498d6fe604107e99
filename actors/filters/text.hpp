#pragma once

#include <string>

#include "actors/filters/pixels.hpp"
#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `text` stage (libvips `text` and `composite2`).
struct text_options {
  std::string text;
  /// Pango font description, e.g. "sans bold 24".
  std::string font;
  int dpi;
  /// "#rrggbb", "#rgb", "r,g,b" or one grey value.
  std::string colour;
  double opacity;
  /// "centre", "north", ..., "south-east".
  std::string gravity;
  /// Distance from the edges the gravity keeps to, in pixels.
  int margin;
};

/// The `text` stage: renders a label (a watermark) and composites it over
/// the image at a gravity position with an opacity. Band count, band
/// format and colour space of the image are kept (the compositing is done
/// in 8-bit sRGB, so 16-bit images keep only 8 bits of precision); where
/// the image has alpha, the label adds its own coverage to it.
class text_stage : public stage {
public:
  /// Throws std::invalid_argument on empty text, a malformed colour or an
  /// unknown gravity.
  explicit text_stage(text_options opts);

  void process(image& img) override;

private:
  text_options opts_;
  rgb_colour colour_;
  gravity place_;
};

/// The spec of `text`: options, defaults, ranges and docs.
const spec_builder<text_options>& text_spec();

/// Adds `text` to `registry`.
void register_text(stage_registry& registry);

} // namespace pixline
