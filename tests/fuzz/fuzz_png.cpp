// libFuzzer target: pixline's own PNG decoder (decode_png_here), checked
// against libvips' pngload on the same bytes. For every input libvips can
// open, the decoder either declines or gives exactly the image pngload
// gives: the same size, bands, format, interpretation and
// pixels. A difference, a crash or a sanitizer report is a finding.
//
// Before that, every whole chunk's CRC is set right: libpng and libvips
// refuse a file whose critical chunk has a bad CRC, and a mutation rarely
// leaves a CRC right, so the decoding beyond would seldom be reached.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <vips/vips8>

#include "actors/io/loader.hpp"
#include "actors/io/png_decoder.hpp"
#include "fuzz_support.hpp"

namespace {

using blob_ptr = std::shared_ptr<VipsBlob>;

/// libvips' pngload of `bytes`, read in order with fail_on = error, as the
/// loader opens a file it has read into memory; nothing if libvips
/// refuses.
std::optional<vips::VImage> libvips_load(const blob_ptr& bytes) {
  try {
    return vips::VImage::pngload_source(
      pixline::source_of_bytes(bytes),
      vips::VImage::option()
        ->set("access", VIPS_ACCESS_SEQUENTIAL)
        ->set("fail_on", VIPS_FAIL_ON_ERROR));
  } catch (const vips::VError&) {
    vips_error_clear();
    return std::nullopt;
  }
}

/// CRC-32 (ISO 3309, as PNG chunks use) of `size` bytes at `data`.
std::uint32_t crc32_of(const unsigned char* data, std::size_t size) {
  std::uint32_t crc = 0xffffffffu;
  for (std::size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k)
      crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xffffffffu;
}

/// Sets the CRC of every whole chunk after the signature to its type's and
/// data's, as an encoder would have written it.
void fix_chunk_crcs(std::string& file) {
  auto* p = reinterpret_cast<unsigned char*>(file.data());
  std::size_t at = 8;
  while (file.size() >= at + 12) {
    std::size_t length = std::size_t(p[at]) << 24 | std::size_t(p[at + 1]) << 16
                         | std::size_t(p[at + 2]) << 8 | p[at + 3];
    if (length > file.size() - at - 12)
      break;
    std::uint32_t crc = crc32_of(p + at + 4, length + 4);
    unsigned char* to = p + at + 8 + length;
    to[0] = static_cast<unsigned char>(crc >> 24);
    to[1] = static_cast<unsigned char>(crc >> 16);
    to[2] = static_cast<unsigned char>(crc >> 8);
    to[3] = static_cast<unsigned char>(crc);
    at += length + 12;
  }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  pixline::fuzz::init(argc, argv);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  std::string file(reinterpret_cast<const char*>(data), size);
  fix_chunk_crcs(file);
  auto bytes = pixline::fuzz::blob_of(file.data(), file.size());
  auto header = libvips_load(bytes);
  if (!header)
    return 0;
  auto here = pixline::decode_png_here(*bytes, *header);
  if (!here)
    return 0;
  pixline::fuzz::require(
    std::int64_t(VIPS_IMAGE_SIZEOF_IMAGE(here->get_image()))
      <= pixline::png_decode_here_max_bytes,
    "decode_png_here took on a decode larger than its limit");
  pixline::fuzz::require_same_image(*here, libvips_load(bytes),
                                    "decode_png_here", "pngload");
  return 0;
}
