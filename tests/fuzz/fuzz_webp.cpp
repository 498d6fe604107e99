// libFuzzer target: pixline's own WebP decoder (decode_webp_here), checked
// against libvips' webpload on the same bytes. For every input libvips can
// open, at several scales, the decoder either declines or gives exactly the
// image webpload gives: the same size, bands, format, interpretation and
// pixels. A difference, a crash or a sanitizer report is a finding.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <vips/vips8>

#include "actors/io/loader.hpp"
#include "actors/io/webp_decoder.hpp"
#include "fuzz_support.hpp"

namespace {

using blob_ptr = std::shared_ptr<VipsBlob>;

/// libvips' webpload of `bytes` at `scale`, read in order with fail_on =
/// error, as the loader opens a file it has read into memory; nothing if
/// libvips refuses.
std::optional<vips::VImage> libvips_load(const blob_ptr& bytes, double scale) {
  try {
    return vips::VImage::webpload_source(
      pixline::source_of_bytes(bytes),
      vips::VImage::option()
        ->set("access", VIPS_ACCESS_SEQUENTIAL)
        ->set("fail_on", VIPS_FAIL_ON_ERROR)
        ->set("scale", scale));
  } catch (const vips::VError&) {
    vips_error_clear();
    return std::nullopt;
  }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  pixline::fuzz::init(argc, argv);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  auto bytes = pixline::fuzz::blob_of(data, size);
  auto header = libvips_load(bytes, 1.0);
  if (!header)
    return 0;
  // Scale 1 (the loader's), a scale whose size can round to the canvas'
  // (libwebp's scaled path all the same) and thumbnail-like ones.
  for (double scale : {1.0, 0.999, 0.5, 0.3, 0.13}) {
    auto here = pixline::decode_webp_here(*bytes, *header, scale);
    if (!here)
      continue;
    pixline::fuzz::require_same_image(*here, libvips_load(bytes, scale),
                                      "decode_webp_here", "webpload");
  }
  return 0;
}
