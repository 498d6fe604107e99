#pragma once
// What crosses a node boundary (docs/distributed.md): images as raw pixels
// plus header and metadata, input files and encoded outputs as bytes. Never a
// vips::VImage, which only means something inside one process.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "pipeline/stage.hpp"

namespace pixline {

/// One metadata item of an image (orientation, ICC profile, EXIF...).
struct wire_field {
  enum kind_t : std::uint8_t { integer, number, text, blob, integers };
  std::string name;
  std::uint8_t kind = integer;
  std::int64_t i = 0;
  double d = 0;
  /// text, or the bytes of a blob.
  std::string s;
  std::vector<std::int32_t> ints;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wire_field& x) {
  return f(caf::meta::type_name("wire_field"), x.name, x.kind, x.i, x.d, x.s,
           x.ints);
}

/// Decoded pixels with the header and metadata libvips needs to carry on.
struct wire_image {
  std::int32_t width = 0;
  std::int32_t height = 0;
  std::int32_t bands = 0;
  /// VipsBandFormat and VipsInterpretation.
  std::int32_t format = 0;
  std::int32_t interpretation = 0;
  double xres = 1;
  double yres = 1;
  std::string input_format;
  std::vector<wire_field> fields;
  /// The pixels: raw (band-interleaved, `encoding` empty), or a PNG file
  /// (`encoding` "png").
  std::vector<std::uint8_t> pixels;
  std::string encoding;

  bool empty() const {
    return width == 0;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wire_image& x) {
  return f(caf::meta::type_name("wire_image"), x.width, x.height, x.bands,
           x.format, x.interpretation, x.xres, x.yres, x.input_format,
           x.fields, x.pixels, x.encoding);
}

/// One sink's output, encoded on a node and written by the coordinator.
struct wire_output {
  std::string format;
  std::int32_t width = 0;
  std::int32_t height = 0;
  std::vector<std::uint8_t> bytes;
  /// Why this sink failed; empty when it did not.
  std::string error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wire_output& x) {
  return f(caf::meta::type_name("wire_output"), x.format, x.width, x.height,
           x.bytes, x.error);
}

/// Coordinator -> a remote worker: one image to work on.
struct wire_job {
  std::uint64_t id = 0;
  /// The input's name relative to the input root, for messages and naming
  /// (never opened on the node).
  std::string name;
  /// The input file's bytes, for the `load` stage.
  std::vector<std::uint8_t> file;
  /// The image so far, for any later stage.
  wire_image image;
  /// How the node is to send images back ("" raw, "png").
  std::string encoding;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wire_job& x) {
  return f(caf::meta::type_name("wire_job"), x.id, x.name, x.file, x.image,
           x.encoding);
}

/// A remote worker -> the coordinator: the job's result.
struct wire_result {
  /// Why the stage failed the image; empty when it did not.
  std::string error;
  /// The image after a `load` or filter stage.
  wire_image image;
  /// Each sink's output after the `save` stage, in sink order.
  std::vector<wire_output> outputs;
  /// With an error, the stage that failed, counted from 0 in a segment of
  /// stages (recipes.hpp, segment_recipe); 0 for a single stage.
  std::int32_t stage = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wire_result& x) {
  return f(caf::meta::type_name("wire_result"), x.error, x.image, x.outputs,
           x.stage);
}

/// Computes `img` (a lazy graph is evaluated here) and copies its pixels,
/// header and metadata into a message. `encoding` "png" sends the pixels as
/// a fast lossless PNG instead of raw (8- and 16-bit images of 1 to 4
/// bands; others go raw); `[[node]] wire` chooses (docs/distributed.md).
wire_image to_wire(const vips::VImage& img, const std::string& input_format,
                   const std::string& encoding = "");

/// The image a message carries (its own copy of the pixels).
vips::VImage from_wire(const wire_image& w);

/// A message in CAF's binary format, for a node's worker process
/// (actors/process), and back. Deserializing throws std::runtime_error on
/// malformed bytes.
std::vector<char> serialized(const wire_job& x);
std::vector<char> serialized(const wire_result& x);
void deserialize(const unsigned char* data, std::size_t size, wire_job& x);
void deserialize(const unsigned char* data, std::size_t size, wire_result& x);

} // namespace pixline
