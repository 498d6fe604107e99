// libFuzzer target: pixline's own JPEG decoder (decode_jpeg_here), checked
// against libvips' jpegload on the same bytes. For every input libvips can
// open, at every shrink, the decoder either declines or gives exactly the
// image jpegload gives: the same size, bands, format, interpretation and
// pixels. A difference, a crash or a sanitizer report is a finding.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include <vips/vips8>

#include "actors/io/jpeg_decoder.hpp"
#include "actors/io/loader.hpp"
#include "fuzz_support.hpp"

namespace {

using blob_ptr = std::shared_ptr<VipsBlob>;

/// libvips' jpegload of `bytes`, read in order with fail_on = error, as the
/// loader opens a file it has read into memory; nothing if libvips refuses.
std::optional<vips::VImage> libvips_load(const blob_ptr& bytes, int shrink) {
  try {
    auto options = vips::VImage::option()
                     ->set("access", VIPS_ACCESS_SEQUENTIAL)
                     ->set("fail_on", VIPS_FAIL_ON_ERROR);
    if (shrink > 1)
      options->set("shrink", shrink);
    return vips::VImage::jpegload_source(pixline::source_of_bytes(bytes),
                                         options);
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
  auto header = libvips_load(bytes, 1);
  if (!header)
    return 0;
  for (int shrink : {1, 2, 4, 8}) {
    auto here = pixline::decode_jpeg_here(*bytes, *header, shrink);
    if (!here)
      continue;
    pixline::fuzz::require(
      std::int64_t(here->width()) * here->height()
        <= pixline::jpeg_decode_here_max_pixels,
      "decode_jpeg_here took on a decode larger than its limit");
    pixline::fuzz::require_same_image(*here, libvips_load(bytes, shrink),
                                      "decode_jpeg_here", "jpegload");
  }
  return 0;
}
