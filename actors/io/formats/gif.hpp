#pragma once

#include <string>

#include "pipeline/spec.hpp"

namespace pixline {

struct output_format;

/// How a sink writes gif.
struct gif_options {
  int effort;
};

const spec_builder<gif_options>& gif_spec();

/// gif: libvips' gifsave (quantised to 256 colours).
output_format gif_format();

} // namespace pixline
