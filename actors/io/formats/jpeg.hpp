#pragma once

#include <string>

#include "pipeline/spec.hpp"

namespace pixline {

struct output_format;

/// How a sink writes jpeg.
struct jpeg_options {
  int quality;
  bool progressive;
  /// Huffman-table optimisation: "auto", "on" or "off".
  std::string optimize;
  /// Chroma subsampling: "auto", "on" or "off".
  std::string subsample;
  /// "white" or "black": the colour transparent pixels are flattened on.
  std::string background;
};

const spec_builder<jpeg_options>& jpeg_spec();

/// jpeg: libjpeg-turbo through libvips' jpegsave, or pixline's own
/// encoder on the save worker's thread (actors/io/jpeg_encoder.hpp) where
/// that writes the same bytes.
output_format jpeg_format();

} // namespace pixline
