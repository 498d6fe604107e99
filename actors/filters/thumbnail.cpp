#include "actors/filters/thumbnail.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "actors/filters/cmyk.hpp"
#include "actors/filters/resample.hpp"
#include "actors/io/jpeg_decoder.hpp"
#include "actors/io/loader.hpp"
#include "actors/io/webp_decoder.hpp"
#include "pipeline/registry.hpp"
#include "pipeline/safe_fs.hpp"

namespace pixline {

namespace {

// The one list of names for each choice: the spec shows these names and the
// stage maps them to libvips enums.
const choice_table<VipsSize, 4> size_names = {
  {"both", VIPS_SIZE_BOTH},
  {"up", VIPS_SIZE_UP},
  {"down", VIPS_SIZE_DOWN},
  {"force", VIPS_SIZE_FORCE},
};

const choice_table<VipsInteresting, 4> crop_names = {
  {"none", VIPS_INTERESTING_NONE},
  {"centre", VIPS_INTERESTING_CENTRE},
  {"attention", VIPS_INTERESTING_ATTENTION},
  {"entropy", VIPS_INTERESTING_ENTROPY},
};

int orientation_of(const vips::VImage& img) {
  if (img.get_typeof(VIPS_META_ORIENTATION) == 0)
    return 1;
  return img.get_int(VIPS_META_ORIENTATION);
}

} // namespace

const spec_builder<thumbnail_options>& thumbnail_spec() {
  static const auto spec
    = spec_builder<thumbnail_options>(
        "thumbnail",
        "Fit the image into a box, shrinking on load when it comes first "
        "(libvips thumbnail)")
        .example("[[filter]]\ntype = \"thumbnail\"\nwidth = 320\n"
                 "height = 240\ncrop = \"centre\"")
        .integer("width", &thumbnail_options::width, 0, 0, 100000,
                 "Width of the box to fit into, in pixels. A side left 0 is "
                 "unbounded: width alone bounds the width and the height "
                 "follows from the aspect ratio (vipsthumbnail's --size Wx, "
                 "sharp's resize({width})); with crop or size = 'force', "
                 "which need a whole box, the missing side equals the given "
                 "one (a square). Neither set: a 256x256 box")
        .integer("height", &thumbnail_options::height, 0, 0, 100000,
                 "Height of the box, in pixels; alone, it bounds the height "
                 "and the width follows (--size xH); 0 is unbounded, as "
                 "for width")
        .choice("size", &thumbnail_options::size, "both", choice_names(size_names),
                "'both' shrinks or enlarges to fit, 'down' only shrinks, 'up' "
                "only enlarges, 'force' fills the box exactly, changing the "
                "aspect ratio")
        .choice("crop", &thumbnail_options::crop, "none", choice_names(crop_names),
                "'none' fits inside the box; otherwise fill the box and crop "
                "the overflow, keeping the centre, the most interesting part "
                "('attention') or the busiest part ('entropy')")
        .boolean("no_rotate", &thumbnail_options::no_rotate, false,
                 "Do not turn the image upright from its EXIF orientation")
        .boolean("linear", &thumbnail_options::linear, false,
                 "Shrink in linear light: more accurate, slower, and no "
                 "shrink-on-load for JPEG")
        .boolean("fast_shrink_on_load",
                 &thumbnail_options::fast_shrink_on_load, true,
                 "JPEG: let libjpeg decode at the smallest scale (1/2, 1/4 "
                 "or 1/8) that is still at least the thumbnail's size, as "
                 "Pillow's draft() and sharp do; false keeps libvips' "
                 "choice, which decodes up to twice as large for the final "
                 "resize: slightly less aliasing, slower. A still WebP is "
                 "decoded at the thumbnail's size either way (libwebp "
                 "scales while decoding); false leaves it to libvips' "
                 "thumbnail")
        .choice("kernel", &thumbnail_options::kernel, "lanczos3",
                choice_names(kernel_table),
                "Resampling kernel of the resize: 'lanczos3' is the "
                "sharpest, 'cubic' (Pillow's thumbnail default) is cheaper, "
                "'linear' and 'nearest' cheaper still and softer or "
                "blockier. Only lanczos3 goes with linear = true or "
                "fast_shrink_on_load = false. Formats that libvips shrinks "
                "on load itself (HEIF, PDF, SVG, TIFF pyramids), animated "
                "WebPs and multi-page images are resized by libvips' "
                "thumbnail, with lanczos3 whatever this says")
        .fuses_load()
        .validate([](const thumbnail_options& o) {
          if (o.width < 0 || o.height < 0)
            throw std::invalid_argument(
              fmt::format("box {}x{} is invalid: sizes are 0 (unbounded) or "
                          "more",
                          o.width, o.height));
          // Both send every image to libvips' thumbnail, which has no
          // kernel.
          if ((o.linear || !o.fast_shrink_on_load) && o.kernel != "lanczos3")
            throw std::invalid_argument(fmt::format(
              "option 'kernel' must be \"lanczos3\" with {} (libvips' "
              "thumbnail does that resize, with lanczos3 only), got \"{}\"",
              o.linear ? "linear = true" : "fast_shrink_on_load = false",
              o.kernel));
        });
  return spec;
}

void register_thumbnail(stage_registry& registry) {
  registry.add(thumbnail_spec().filter<thumbnail_stage>());
}

thumbnail_stage::thumbnail_stage(thumbnail_options opts)
  : opts_(std::move(opts)),
    size_(choice_value("size", size_names, opts_.size)),
    crop_(choice_value("crop", crop_names, opts_.crop)),
    kernel_(choice_value("kernel", kernel_table, opts_.kernel)) {
  thumbnail_spec().enforce(opts_);
  box_width_ = opts_.width;
  box_height_ = opts_.height;
  if (box_width_ == 0 && box_height_ == 0)
    box_width_ = box_height_ = 256;
  // A crop and "force" fill a whole box: one side given is a square.
  if (crop_ != VIPS_INTERESTING_NONE || size_ == VIPS_SIZE_FORCE) {
    box_width_ = box_width_ > 0 ? box_width_ : box_height_;
    box_height_ = box_height_ > 0 ? box_height_ : box_width_;
  }
}

// The same arithmetic as libvips' vips_thumbnail_calculate_shrink, but on
// the full-size input: libvips does it again on the image shrunk on load,
// whose rounded size can make the result one pixel off.
thumbnail_geometry thumbnail_stage::plan(int width, int height,
                                         int orientation) const {
  bool swap = !opts_.no_rotate && orientation >= 5 && orientation <= 8;
  double in_w = swap ? height : width;
  double in_h = swap ? width : height;
  // A side 0: unbounded, as libvips' thumbnail takes VIPS_MAX_COORD.
  int box_w = box_width_ > 0 ? box_width_ : VIPS_MAX_COORD;
  int box_h = box_height_ > 0 ? box_height_ : VIPS_MAX_COORD;
  bool cropping = crop_ != VIPS_INTERESTING_NONE;

  double hshrink = in_w / box_w;
  double vshrink = in_h / box_h;
  if (size_ != VIPS_SIZE_FORCE) {
    // One side bounded: it alone sets the scale (a crop always has both).
    double shrink = box_width_ == 0    ? vshrink
                    : box_height_ == 0 ? hshrink
                    : cropping         ? std::min(hshrink, vshrink)
                                       : std::max(hshrink, vshrink);
    hshrink = vshrink = shrink;
  }
  if (size_ == VIPS_SIZE_UP) {
    hshrink = std::min(1.0, hshrink);
    vshrink = std::min(1.0, vshrink);
  } else if (size_ == VIPS_SIZE_DOWN) {
    hshrink = std::max(1.0, hshrink);
    vshrink = std::max(1.0, vshrink);
  }
  hshrink = std::min(hshrink, in_w);
  vshrink = std::min(vshrink, in_h);

  thumbnail_geometry g;
  g.swapped = swap;
  g.resize_width = std::max(1, int(std::lround(in_w / hshrink)));
  g.resize_height = std::max(1, int(std::lround(in_h / vshrink)));
  g.width = cropping ? std::min(box_w, g.resize_width) : g.resize_width;
  g.height = cropping ? std::min(box_h, g.resize_height) : g.resize_height;
  return g;
}

// 'force' with the planned size makes libvips hit it exactly, whatever
// shrink-on-load did; cropping is left to finish().
vips::VOption* thumbnail_stage::resize_options(
  const thumbnail_geometry& g) const {
  return vips::VImage::option()
    ->set("height", g.resize_height)
    ->set("size", VIPS_SIZE_FORCE)
    ->set("no_rotate", opts_.no_rotate)
    ->set("linear", opts_.linear);
}

vips::VImage thumbnail_stage::finish(vips::VImage img,
                                     const thumbnail_geometry& g) const {
  if (img.width() == g.width && img.height() == g.height)
    return img;
  // 'attention' and 'entropy' read the image once to find the crop and
  // again for its pixels, and a file opened for sequential reading (the
  // loader's default, and shrink-on-load's) can be read once only: "out of
  // order read". As libvips' thumbnail does, compute the image, already
  // shrunk to about the box, into memory first.
  if (crop_ == VIPS_INTERESTING_ATTENTION || crop_ == VIPS_INTERESTING_ENTROPY)
    img = img.copy_memory();
  return img.smartcrop(g.width, g.height,
                       vips::VImage::option()->set("interesting", crop_));
}

vips::VImage thumbnail_stage::resize_upright(
  const vips::VImage& loaded, const thumbnail_geometry& g) const {
  VipsImage* raw = loaded.get_image();
  if (opts_.linear || raw->Coding != VIPS_CODING_NONE
      || vips_image_get_page_height(raw) != raw->Ysize)
    return loaded.thumbnail_image(g.resize_width, resize_options(g));
  // libvips 8.14's vips_thumbnail_image() with resize_options(g), step by
  // step (libvips/resample/thumbnail.c), so that its resize can be
  // resize_image(): the same pixels (within a level with alpha), the
  // horizontal reduction faster.
  auto in = cache_for_threads(loaded, 16);
  // A CMYK image is imported by pixline's cmyk_to_xyz: libvips' import,
  // with its colour transform built once rather than per image.
  auto processing_space = [](const vips::VImage& x) {
    return colourspace_of(x, x.bands() < 3 ? VIPS_INTERPRETATION_B_W
                                           : VIPS_INTERPRETATION_sRGB);
  };
  in = processing_space(in);
  // vips_thumbnail_calculate_shrink() with size "force": the planned size,
  // turned as the stored image is.
  int target_width = g.swapped ? g.resize_height : g.resize_width;
  int target_height = g.swapped ? g.resize_width : g.resize_height;
  double hshrink = std::min(double(in.width()) / target_width,
                            double(in.width()));
  double vshrink = std::min(double(in.height()) / target_height,
                            double(in.height()));
  // Premultiplied when both axes change, as libvips does.
  auto format = in.format();
  bool premultiply = in.has_alpha() && hshrink != 1.0 && vshrink != 1.0;
  if (premultiply)
    in = premultiply_image(in);
  in = resize_image(in, 1.0 / hshrink, 1.0 / vshrink, kernel_, 2.0);
  if (premultiply)
    in = in.unpremultiply().cast(format);
  in = processing_space(in);
  if (!opts_.no_rotate && vips_image_get_orientation(raw) != 1)
    in = in.copy_memory().autorot();
  return in;
}

bool thumbnail_stage::libvips_shrinks_on_load(const vips::VImage& header) {
  // vips_thumbnail_open() in libvips 8.14: JPEG, WebP, OpenSlide, PDF, SVG
  // and HEIF (its stored thumbnail) always may; TIFF and JPEG 2000 only
  // when they are pyramids, which needs pages or sub-IFDs.
  const auto loader = loader_of(header);
  auto is = [&](const char* name) { return loader.rfind(name, 0) == 0; };
  if (is("tiffload") || is("jp2kload")) {
    VipsImage* raw = header.get_image();
    return vips_image_get_n_pages(raw) > 1
           || vips_image_get_n_subifds(raw) > 0;
  }
  return is("jpegload") || is("webpload") || is("openslideload")
         || is("pdfload") || is("svgload") || is("heifload");
}

int thumbnail_stage::fast_jpeg_shrink(const vips::VImage& header,
                                      const thumbnail_geometry& g) const {
  // In linear light libvips never shrinks JPEGs on load: libjpeg shrinks
  // the gamma-encoded values.
  if (!opts_.fast_shrink_on_load || opts_.linear)
    return 0;
  if (loader_of(header).rfind("jpegload", 0) != 0)
    return 0;
  // The planned size is upright; the header is as stored.
  double target_w = g.swapped ? g.resize_height : g.resize_width;
  double target_h = g.swapped ? g.resize_width : g.resize_height;
  double shrink = std::min(header.width() / target_w,
                           header.height() / target_h);
  // libjpeg rounds up, so width / n >= target keeps the decode >= target.
  for (int n : {8, 4, 2})
    if (n <= shrink)
      return n;
  return 1;
}

double thumbnail_stage::fast_webp_scale(const vips::VImage& header,
                                        const thumbnail_geometry& g) const {
  // An animation's frames are resized by libvips' thumbnail, page by page.
  if (!opts_.fast_shrink_on_load || opts_.linear
      || loader_of(header).rfind("webpload", 0) != 0
      || header.get_typeof(VIPS_META_N_PAGES) != 0)
    return 0.0;
  // libvips' thumbnail's scale for WebP: the smaller shrink of the two
  // axes, never enlarging (vips_thumbnail_calculate_common_shrink), so the
  // decode is at least the planned size.
  double target_w = g.swapped ? g.resize_height : g.resize_width;
  double target_h = g.swapped ? g.resize_width : g.resize_height;
  double shrink = std::min(header.width() / target_w,
                           header.height() / target_h);
  return 1.0 / std::max(1.0, shrink);
}

void thumbnail_stage::process(image& img) {
  auto g = plan(img.pixels.width(), img.pixels.height(),
                orientation_of(img.pixels));
  img.pixels = finish(resize_upright(img.pixels, g), g);
}

std::optional<vips::VImage> thumbnail_stage::load_fused(
  const std::string& path, const vips::VImage& header,
  const load_params& params) {
  auto fail_on = vips_enum_from_nick("pixline", VIPS_TYPE_FAIL_ON,
                                     params.fail_on.c_str());
  if (fail_on < 0) {
    vips_error_clear();
    throw stage_error(
      fmt::format("unknown fail_on level '{}'", params.fail_on));
  }
  // A format libvips' thumbnail does not shrink on load (PNG, GIF, a
  // one-page TIFF, anything ImageMagick reads...) gains nothing from
  // opening the file again: resize it as the loader opened it (process),
  // with pixline's resize and the stage's kernel.
  if (!libvips_shrinks_on_load(header))
    return std::nullopt;
  auto g = plan(header.width(), header.height(), orientation_of(header));
  // A JPEG shrinks on load by libjpeg's factors (fast_jpeg_shrink; shrink 1
  // too: libvips, which leaves a factor of two for the resize, would not
  // shrink either), a still WebP by libwebp's scale (fast_webp_scale), and
  // resize_upright, faster than libvips' thumbnail, does the rest.
  const int jpeg_shrink = fast_jpeg_shrink(header, g);
  const double webp_scale = jpeg_shrink > 0 ? 0.0 : fast_webp_scale(header, g);
  if (jpeg_shrink > 0 || webp_scale > 0.0) {
    // A file read into memory is decoded here, whole: the same pixels
    // without libvips' loader's per-image cost. Else, unshrunk, the
    // loader's image is the one a new open would give (the same loader,
    // access and fail_on): building and reading the header a second time
    // is a good part of a small image's cost.
    std::optional<vips::VImage> here;
    if (params.input_bytes)
      here = jpeg_shrink > 0
               ? decode_jpeg_here(*params.input_bytes, header, jpeg_shrink)
               : decode_webp_here(*params.input_bytes, header, webp_scale);
    auto reopen = [&](vips::VOption* options) {
      return open_image_file(
        path,
        options
          ->set("access", params.sequential ? VIPS_ACCESS_SEQUENTIAL
                                            : VIPS_ACCESS_RANDOM)
          ->set("fail_on", fail_on),
        loader_of(header), params.input_fd, params.input_bytes);
    };
    auto shrunk
      = here                                   ? std::move(*here)
      : jpeg_shrink == 1 || webp_scale == 1.0 ? header
      : jpeg_shrink > 0
        ? reopen(vips::VImage::option()->set("shrink", jpeg_shrink))
        : reopen(vips::VImage::option()->set("scale", webp_scale));
    return finish(resize_upright(shrunk, g), g);
  }
  auto options = resize_options(g)->set("fail_on", fail_on);
  auto thumb = params.input_bytes
                 ? vips::VImage::thumbnail_source(
                     source_of_bytes(params.input_bytes), g.resize_width,
                     options)
               : params.input_fd >= 0
                 ? vips::VImage::thumbnail_source(
                     vips::VSource::new_from_descriptor(
                       reopen_read(params.input_fd).get()),
                     g.resize_width, options)
               : has_option_suffix(path)
                 ? vips::VImage::thumbnail_source(
                     vips::VSource::new_from_file(path.c_str()),
                     g.resize_width, options)
                 : vips::VImage::thumbnail(path.c_str(), g.resize_width,
                                           options);
  return finish(thumb, g);
}

} // namespace pixline
