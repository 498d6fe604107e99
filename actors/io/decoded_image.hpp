#pragma once

#include <vips/vips8>

namespace pixline {

/// A new memory image with `header`'s fields and metadata, as libvips'
/// loaders give theirs (vips_image_pipelinev copies them), for pixline's
/// own decoders (decode_jpeg_here, decode_png_here, decode_webp_here) to
/// size and fill: its pixels are allocated by vips_image_write_prepare.
/// Null, with libvips' error cleared, if libvips fails.
inline VipsImage* memory_image_like(VipsImage* header) {
  VipsImage* out = vips_image_new_memory();
  if (vips_image_pipelinev(out, VIPS_DEMAND_STYLE_ANY, header, nullptr)) {
    g_object_unref(out);
    vips_error_clear();
    return nullptr;
  }
  return out;
}

} // namespace pixline
