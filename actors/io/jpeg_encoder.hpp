#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <utility>

#include <vips/vips8>

namespace pixline {

/// How a jpeg is written: libvips' jpegsave options that pixline sets.
struct jpeg_settings {
  int quality = 75;
  bool progressive = false;
  bool optimize = false;
  VipsForeignSubsample subsample = VIPS_FOREIGN_SUBSAMPLE_AUTO;
};

/// An encoded file in memory, freed with free().
using jpeg_bytes = std::unique_ptr<void, void (*)(void*)>;

/// Largest image encode_jpeg_here takes on: 16 MP. Above it libvips' own
/// saver, which encodes one strip while its worker computes the next, gets a
/// single large image done sooner.
constexpr std::int64_t jpeg_here_max_pixels = 16'000'000;

/// Whether encode_jpeg_here writes `img` byte for byte as libvips' jpegsave
/// with `strip` set would: 8-bit pixels, uncoded, 3-band sRGB or 1-band
/// B_W (nothing for libvips to convert before saving), and no larger than
/// jpeg_here_max_pixels.
bool jpeg_encodable_here(const vips::VImage& img);

/// Computes `img` on the calling thread, a strip of rows at a time, and
/// encodes each strip with libjpeg as it comes, with no metadata (as
/// jpegsave with `strip`). libvips' savers compute an image on a thread pool
/// of their own and encode on a write-behind thread, so even at one thread
/// per image every strip passes between three threads; here none does.
/// `between_strips` runs after each strip (a deadline check, which may kill
/// the image: the next strip then fails). Throws vips::VError, with the
/// message in libvips' error buffer, when computing or encoding fails.
/// Requires jpeg_encodable_here(img).
std::pair<jpeg_bytes, std::size_t>
encode_jpeg_here(const vips::VImage& img, const jpeg_settings& settings,
                 const std::function<void()>& between_strips = {});

} // namespace pixline
