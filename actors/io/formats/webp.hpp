#pragma once

#include <string>

#include "pipeline/spec.hpp"

namespace pixline {

struct output_format;

/// How a sink writes webp.
struct webp_options {
  int quality;
  bool lossless;
  int effort;
};

const spec_builder<webp_options>& webp_spec();

/// webp: libwebp through libvips' webpsave.
output_format webp_format();

} // namespace pixline
