#pragma once

#include <string>

#include "pipeline/spec.hpp"

namespace pixline {

struct output_format;

/// How a sink writes png.
struct png_options {
  /// zlib level.
  int compression;
  /// Interlaced (Adam7).
  bool progressive;
  /// Quantise to an 8-bit palette (libimagequant), steered by quality and
  /// effort.
  bool palette;
  int quality;
  int effort;
};

const spec_builder<png_options>& png_spec();

/// png: libvips' pngsave.
output_format png_format();

} // namespace pixline
