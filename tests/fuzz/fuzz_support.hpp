#pragma once

// Shared by the libFuzzer targets in tests/fuzz.

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include <vips/vips8>

#include "pipeline/registry.hpp"

namespace pixline::fuzz {

/// Starts libvips once (stage factories may build images).
inline void init(int*, char*** argv) {
  if (VIPS_INIT((*argv)[0]))
    std::abort();
  vips_cache_set_max(0);
}

/// The built-in stages, built once.
inline const stage_registry& registry() {
  static const auto result = builtin_registry();
  return result;
}

/// A broken promise of the code under test: report and abort, which
/// libFuzzer records as a crash with this input.
inline void require(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz: %s\n", what.c_str());
    std::abort();
  }
}

/// A fuzz input in a libvips blob, as the loader holds a file it read
/// into memory.
inline std::shared_ptr<VipsBlob> blob_of(const void* data, std::size_t size) {
  return {vips_blob_copy(data, size),
          [](VipsBlob* blob) { vips_area_unref(VIPS_AREA(blob)); }};
}

/// `img` computed, its pixels as bytes; nothing when libvips fails on them
/// (a decoder meeting damage past the header).
inline std::optional<std::string> pixels_of(const vips::VImage& img) {
  try {
    std::size_t size = 0;
    void* data = img.write_to_memory(&size);
    std::string pixels(static_cast<const char*>(data), size);
    g_free(data);
    return pixels;
  } catch (const vips::VError&) {
    vips_error_clear();
    return std::nullopt;
  }
}

/// The promise of pixline's own decoders: `here`, what `decoder` gave, is
/// the image libvips' `loader` gives of the same bytes (`theirs`, nothing
/// when libvips refused them): the same size, bands, format,
/// interpretation and pixels, which libvips reads without an error.
inline void require_same_image(const vips::VImage& here,
                               const std::optional<vips::VImage>& theirs,
                               const std::string& decoder,
                               const std::string& loader) {
  require(theirs.has_value(), decoder + " decoded what " + loader + " refuses");
  require(here.width() == theirs->width() && here.height() == theirs->height()
            && here.bands() == theirs->bands()
            && here.format() == theirs->format()
            && here.interpretation() == theirs->interpretation(),
          decoder + " gave another size, band count or interpretation than "
            + loader);
  // The loader may still fail on the pixels (damage past the header); the
  // decoder, which gives up at its library's first error (and at libjpeg's
  // or libpng's first warning), must not have decoded such a file.
  auto their_pixels = pixels_of(*theirs);
  require(their_pixels.has_value(),
          decoder + " decoded a file whose pixels " + loader + " refuses");
  auto our_pixels = pixels_of(here);
  require(our_pixels.has_value(), decoder + "'s image cannot be read");
  require(*our_pixels == *their_pixels,
          decoder + "'s pixels differ from " + loader + "'s");
}

} // namespace pixline::fuzz
