#pragma once

#include <string>

#include "actors/filters/pixels.hpp"
#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `embed` stage (libvips `embed`). Either `all` or the
/// four sides are set, not both.
struct embed_options {
  int top;
  int right;
  int bottom;
  int left;
  int all;
  /// "black", "white", "copy", "mirror", "repeat" or "background".
  std::string extend;
  /// Colour for extend "background": "#rrggbb", "#rgb", "r,g,b" or a grey.
  std::string background;
};

/// The `embed` stage: adds borders around the image.
class embed_stage : public stage {
public:
  /// Throws std::invalid_argument when `all` and a side are both set, on an
  /// unknown extend mode or a malformed background colour.
  explicit embed_stage(embed_options opts);

  /// Throws stage_error when the result would exceed libvips' size limit.
  void process(image& img) override;

private:
  int top_;
  int right_;
  int bottom_;
  int left_;
  VipsExtend extend_;
  rgb_colour background_;
};

/// The spec of `embed`: options, defaults, ranges and docs.
const spec_builder<embed_options>& embed_spec();

/// Adds `embed` to `registry`.
void register_embed(stage_registry& registry);

} // namespace pixline
