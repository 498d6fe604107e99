#pragma once

#include <cstdint>
#include <optional>

#include <vips/vips8>

namespace pixline {

/// Largest image decode_png_here takes on, in bytes decoded: 4 MiB (1 MP
/// of RGBA). The whole image is held in memory at once; above this
/// libvips' loader, which decodes strips as they are asked for, is left to
/// do it.
constexpr std::int64_t png_decode_here_max_bytes = std::int64_t(4) << 20;

/// Decodes the PNG in `bytes` on the calling thread, whole, into a memory
/// image: libpng with libvips' settings and transformations (palettes and
/// transparency expanded to RGB and alpha, low bit depths to 8 bits,
/// 16-bit samples in the machine's order), so the image is the one libvips'
/// pngload gives, pixel for pixel, with `header`'s fields and metadata (the
/// same bytes opened by pngload). libvips' loader reads a non-interlaced
/// PNG row by row through a sequential line cache in strips of 16 rows,
/// regions and objects per strip: a good part of a small image's cost.
///
/// Returns nothing, having decoded nothing or thrown the pixels away, when
/// the result might not be libvips': a decode larger than
/// png_decode_here_max_bytes, a header that does not match the file, any
/// libpng error or warning (a damaged or truncated file, a bad checksum,
/// a questionable chunk). The caller then opens the file with libvips,
/// which applies `fail_on` and reports the damage in its own words.
std::optional<vips::VImage> decode_png_here(const VipsBlob& bytes,
                                            const vips::VImage& header);

} // namespace pixline
