#include "actors/io/webp_decoder.hpp"

#include <cstdint>
#include <memory>

#include <webp/decode.h>
#include <webp/demux.h>

#include "actors/io/decoded_image.hpp"

namespace pixline {

namespace {

struct demux_deleter {
  void operator()(WebPDemuxer* demux) const {
    WebPDemuxDelete(demux);
  }
};

/// The first frame of a demuxed file, released on scope exit.
struct first_frame {
  WebPIterator iter{};
  bool found;
  explicit first_frame(const WebPDemuxer* demux)
    : found(WebPDemuxGetFrame(demux, 1, &iter) != 0) {}
  ~first_frame() {
    WebPDemuxReleaseIterator(&iter);
  }
  first_frame(const first_frame&) = delete;
  first_frame& operator=(const first_frame&) = delete;
};

} // namespace

std::optional<vips::VImage> decode_webp_here(const VipsBlob& bytes,
                                             const vips::VImage& header,
                                             double scale) {
  VipsImage* in = header.get_image();
  if (!(scale > 0.0 && scale <= 1.0) || in->BandFmt != VIPS_FORMAT_UCHAR
      || in->Coding != VIPS_CODING_NONE || (in->Bands != 3 && in->Bands != 4)
      || vips_image_get_typeof(in, VIPS_META_N_PAGES) != 0)
    return std::nullopt;
  auto* area = VIPS_AREA(&bytes);
  // libvips' read_header(): the demuxer's flags and canvas, the first
  // frame's data.
  WebPData data{static_cast<const std::uint8_t*>(area->data),
                std::size_t(area->length)};
  std::unique_ptr<WebPDemuxer, demux_deleter> demux{WebPDemux(&data)};
  if (!demux)
    return std::nullopt;
  const auto flags = WebPDemuxGetI(demux.get(), WEBP_FF_FORMAT_FLAGS);
  const bool alpha = (flags & ALPHA_FLAG) != 0;
  const int canvas_width
    = int(WebPDemuxGetI(demux.get(), WEBP_FF_CANVAS_WIDTH));
  const int canvas_height
    = int(WebPDemuxGetI(demux.get(), WEBP_FF_CANVAS_HEIGHT));
  if ((flags & ANIMATION_FLAG) != 0 || in->Bands != (alpha ? 4 : 3)
      || canvas_width != in->Xsize || canvas_height != in->Ysize)
    return std::nullopt;
  // Rounded to nearest, as libvips does (VIPS_RINT).
  const int width = int(VIPS_RINT(canvas_width * scale));
  const int height = int(VIPS_RINT(canvas_height * scale));
  if (width <= 0 || height <= 0)
    return std::nullopt;
  first_frame frame{demux.get()};
  // A still image's one frame covers the canvas. Without the alpha flag
  // libvips decodes RGBA and drops the alpha, and this decodes RGB: the
  // same only when the frame has no alpha either (libwebp premultiplies a
  // lossy frame's luma by its alpha before scaling it to RGBA).
  if (!frame.found || frame.iter.x_offset != 0 || frame.iter.y_offset != 0
      || frame.iter.width != canvas_width
      || frame.iter.height != canvas_height
      || (!alpha && frame.iter.has_alpha))
    return std::nullopt;

  VipsImage* out = memory_image_like(in);
  if (!out)
    return std::nullopt;
  out->Xsize = width;
  out->Ysize = height;
  if (vips_image_write_prepare(out)) {
    g_object_unref(out);
    vips_error_clear();
    return std::nullopt;
  }
  // libvips' read_frame(), with no decoder thread: libwebp's threads
  // change when rows are filtered, not their values.
  WebPDecoderConfig config;
  if (!WebPInitDecoderConfig(&config)) {
    g_object_unref(out);
    return std::nullopt;
  }
  config.output.colorspace = alpha ? MODE_RGBA : MODE_RGB;
  config.output.is_external_memory = 1;
  config.output.u.RGBA.rgba = VIPS_IMAGE_ADDR(out, 0, 0);
  config.output.u.RGBA.stride = int(VIPS_IMAGE_SIZEOF_LINE(out));
  config.output.u.RGBA.size = std::size_t(VIPS_IMAGE_SIZEOF_IMAGE(out));
  // Only when the scale is not 1, as libvips: libwebp's scaled path
  // differs from its plain one even at the same size.
  if (scale != 1.0) {
    config.options.use_scaling = 1;
    config.options.scaled_width = width;
    config.options.scaled_height = height;
  }
  const auto status = WebPDecode(frame.iter.fragment.bytes,
                                 frame.iter.fragment.size, &config);
  WebPFreeDecBuffer(&config.output);
  if (status != VP8_STATUS_OK) {
    g_object_unref(out);
    return std::nullopt;
  }
  return vips::VImage(out);
}

} // namespace pixline
