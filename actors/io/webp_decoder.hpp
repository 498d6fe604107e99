#pragma once

#include <optional>

#include <vips/vips8>

namespace pixline {

/// Decodes the still (not animated) WebP in `bytes` on the calling thread,
/// whole, into a memory image: libwebp as libvips' webpload calls it, so the
/// image is the one webpload with `scale` (0 < scale <= 1) would give, pixel
/// for pixel, with `header`'s fields and metadata (the same bytes opened by
/// webpload at scale 1) and libvips' size (the canvas times `scale`,
/// rounded to nearest). libvips' loader decodes the file into a frame of
/// its own on a second decoder thread, then copies it line by line through
/// a sequential line cache: most of a small WebP's cost. libvips holds the
/// whole frame in memory too, so there is no size limit here.
///
/// Returns nothing, having decoded nothing or thrown the pixels away, when
/// the result might not be libvips': an animation, a header that does not
/// match the file, or any libwebp error (a damaged or truncated file). The
/// caller then opens the file with libvips, which reports the damage in its
/// own words.
std::optional<vips::VImage> decode_webp_here(const VipsBlob& bytes,
                                             const vips::VImage& header,
                                             double scale);

} // namespace pixline
