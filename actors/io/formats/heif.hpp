#pragma once

#include <string>

#include "pipeline/spec.hpp"

namespace pixline {

struct output_format;

/// How a sink writes avif and heif, one libvips saver (heifsave) with
/// two compressions.
struct heif_options {
  int quality;
  bool lossless;
  int effort;
};

const spec_builder<heif_options>& heif_spec();

/// avif: AV1 in a HEIF container (libvips' heifsave).
output_format avif_format();

/// heif: HEVC in a HEIF container (libvips' heifsave), files
/// named .heif.
output_format heif_format();

} // namespace pixline
