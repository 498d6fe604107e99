#pragma once

#include <string>

#include "pipeline/spec.hpp"

namespace pixline {

struct output_format;

/// How a sink writes jxl.
struct jxl_options {
  int quality;
  bool lossless;
  int effort;
};

const spec_builder<jxl_options>& jxl_spec();

/// jxl: libjxl through libvips' jxlsave.
output_format jxl_format();

} // namespace pixline
