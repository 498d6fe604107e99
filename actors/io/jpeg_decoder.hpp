#pragma once

#include <cstdint>
#include <optional>

#include <vips/vips8>

namespace pixline {

/// Largest decode decode_jpeg_here takes on, in pixels after shrink-on-load:
/// 1 MP (3 MB of RGB). The whole image is held in memory at once; above
/// this libvips' loader, which decodes strips as they are asked for, is
/// left to do it.
constexpr std::int64_t jpeg_decode_here_max_pixels = 1 << 20;

/// Decodes the JPEG in `bytes` on the calling thread, whole, into a memory
/// image: libjpeg with libvips' settings, so the image is the one libvips'
/// jpegload with `shrink` (1, 2, 4 or 8) would give, pixel for pixel, and
/// with `header`'s fields (the same bytes opened by libvips' jpegload at
/// shrink 1: the fields do not depend on the shrink) and the size libvips
/// gives (rounded down). libvips' loader runs every image through a
/// sequential line cache in strips of 8 rows, dozens of regions and objects
/// per image: much of a small image's cost.
///
/// Returns nothing, having decoded nothing or thrown the pixels away, when
/// the result might not be libvips': a colour space other than RGB or grey
/// (CMYK, which libvips inverts), a decode larger than
/// jpeg_decode_here_max_pixels, any libjpeg error or warning (a damaged or
/// truncated file). The caller then opens the file with libvips, which
/// applies `fail_on` and reports the damage in its own words.
std::optional<vips::VImage> decode_jpeg_here(const VipsBlob& bytes,
                                             const vips::VImage& header,
                                             int shrink);

} // namespace pixline
