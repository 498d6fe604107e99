#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <vips/vips8>

#include "pipeline/spec.hpp"

namespace pixline {

/// Helpers shared by the filter stages: colours given in config, and work on
/// the colour bands of an image that may carry alpha.

/// An sRGB colour, each channel 0 .. 255.
using rgb_colour = std::array<double, 3>;

/// Parses a colour option: "#rrggbb", "#rgb", "r,g,b" (each 0 .. 255) or one
/// grey value "v". Throws std::invalid_argument naming `option` and the text.
rgb_colour parse_colour(const std::string& option, const std::string& text);

/// Checks a region's options (crop, extract): a size of at least 1x1 and a
/// corner that is not negative. Throws std::invalid_argument.
void check_region(int width, int height, int left, int top);

/// The value of a band at full intensity: 65535 for 16-bit RGB and grey,
/// 1 for scRGB, 255 otherwise.
double max_value_of(const vips::VImage& img);

/// `colour` as band values for `img`: its luma for one colour band, scaled to
/// the image's range (16-bit: × 257), and, when `img` has alpha and
/// `with_alpha` is set, an opaque alpha value at the end.
std::vector<double> colour_for(const vips::VImage& img,
                               const rgb_colour& colour, bool with_alpha);

/// Runs `f` on the colour bands of `img` alone and joins the untouched alpha
/// band back on. With `keep_format`, the result is rounded and cast back to
/// the input's band format (uchar stays uchar, values are clipped).
vips::VImage
on_colour_bands(const vips::VImage& img,
                const std::function<vips::VImage(const vips::VImage&)>& f,
                bool keep_format = true);

/// Rounds `img` to the nearest integer and casts it to `format`, clipping;
/// float formats are cast without rounding.
vips::VImage cast_rounded(const vips::VImage& img, VipsBandFormat format);

/// A new image whose pixels `generate` computes from `in`, the way libvips'
/// own operations are made: `style` is the demand hint, `start` and `stop`
/// make and free each thread's sequence (vips_start_one / vips_stop_one for
/// one region on `in`), and `generate` gets `in`'s VipsImage as its `a` and
/// a pointer to `state` as its `b`. The image keeps `state` and a reference
/// to `in` for as long as it lives (libvips' generate holds neither). Its
/// fields are `in`'s, but `width` × `height` and, where given, the band
/// format `format` (unless VIPS_FORMAT_NOTSET), the number of bands `bands`
/// (unless 0) and the interpretation `type`.
template <class State>
vips::VImage
generated_image(const vips::VImage& in, State state, int width, int height,
                VipsDemandStyle style, VipsStartFn start,
                VipsGenerateFn generate, VipsStopFn stop,
                VipsBandFormat format = VIPS_FORMAT_NOTSET, int bands = 0,
                std::optional<VipsInterpretation> type = std::nullopt) {
  struct kept_state {
    State state;
    vips::VImage in;
  };
  VipsImage* out = vips_image_new();
  auto* kept = new kept_state{std::move(state), in};
  g_object_set_data_full(G_OBJECT(out), "pixline-generated", kept,
                         [](gpointer p) {
                           delete static_cast<kept_state*>(p);
                         });
  VipsImage* raw = kept->in.get_image();
  if (vips_image_pipelinev(out, style, raw, nullptr)) {
    g_object_unref(out);
    throw vips::VError();
  }
  out->Xsize = width;
  out->Ysize = height;
  if (format != VIPS_FORMAT_NOTSET)
    out->BandFmt = format;
  if (bands > 0)
    out->Bands = bands;
  if (type)
    out->Type = *type;
  if (vips_image_generate(out, start, generate, stop, raw, &kept->state)) {
    g_object_unref(out);
    throw vips::VError();
  }
  return vips::VImage(out);
}

/// Where a gravity puts a box inside an image: on each axis, how many
/// halves of the spare room (image size minus box size) lie before it:
/// 0, 1 or 2.
struct gravity {
  int x;
  int y;
};

/// The gravity names "centre", "north", ..., "south-west" and their
/// placements.
extern const choice_table<gravity, 9> gravity_table;

/// `img` rounded to 8 bits and tagged sRGB: the form composite_over takes
/// its overlay in.
vips::VImage as_srgb8(const vips::VImage& img);

/// Where a box of `size` goes in an image of `room` on one axis, for a
/// gravity's `halves` (0, 1, 2), keeping `margin` from the edge it hugs.
int gravity_offset(int halves, int room, int size, int margin);

/// `overlay` (8-bit sRGB with alpha) composited over `in` at (x, y). Band
/// count, band format and colour space of `in` are kept (the compositing is
/// done in 8-bit sRGB, so 16-bit images keep only 8 bits of precision);
/// where `in` has alpha, the overlay adds its own coverage to it.
vips::VImage composite_over(const vips::VImage& in,
                            const vips::VImage& overlay, int x, int y);

} // namespace pixline
