#pragma once

#include <string>
#include <vector>

#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `strip` stage.
struct strip_options {
  /// Keep the ICC profile (colours of non-sRGB images stay right).
  bool keep_icc;
  /// Keep the orientation tag (the image is shown upright).
  bool keep_orientation;
};

/// The `strip` stage: removes metadata from the image: EXIF (every
/// `exif-*` field), XMP, IPTC, Photoshop resources, image descriptions and
/// comments, and unless kept, the ICC profile and orientation. What
/// describes the pixels themselves (resolution, page height and number of
/// pages, animation delays and loop count, palette and bit depth hints)
/// stays.
class strip_stage : public stage {
public:
  explicit strip_stage(strip_options opts) : opts_(opts) {
  }

  void process(image& img) override;

  /// The metadata fields of `img` this stage removes.
  std::vector<std::string> fields_to_remove(const vips::VImage& img) const;

private:
  strip_options opts_;
};

/// The spec of `strip`: options, defaults and docs.
const spec_builder<strip_options>& strip_spec();

/// Adds `strip` to `registry`.
void register_strip(stage_registry& registry);

} // namespace pixline
