#pragma once

#include <string>

#include "pipeline/spec.hpp"

namespace pixline {

struct output_format;

/// How a sink writes tiff (deflate compression).
struct tiff_options {
  /// 256x256 tiles rather than strips.
  bool tile;
  /// Half-size levels down to one tile; implies tile.
  bool pyramid;
};

const spec_builder<tiff_options>& tiff_spec();

/// tiff: libtiff through libvips' tiffsave, deflate-compressed.
output_format tiff_format();

} // namespace pixline
