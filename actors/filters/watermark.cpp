#include "actors/filters/watermark.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "pipeline/registry.hpp"
#include "pipeline/vips_modules.hpp"

namespace pixline {

namespace {

/// Largest overlay accepted: a logo, not a photo (it is held decoded in
/// memory by every worker).
constexpr std::int64_t max_overlay_pixels = 25'000'000;

} // namespace

const spec_builder<watermark_options>& watermark_spec() {
  static const auto spec
    = spec_builder<watermark_options>(
        "watermark",
        "Composite an image (a logo) over each image at a gravity position "
        "or tiled, with an opacity")
        .example("[[filter]]\ntype = \"watermark\"\nimage = \"logo.png\"\n"
                 "gravity = \"south-east\"\nmargin = 16\nopacity = 0.6\n"
                 "scale = 0.2")
        .text("image", &watermark_options::image, "",
              "The overlay image file (a PNG with alpha, typically); read "
              "once, when the pipeline starts. Required")
        .names_file()
        .required()
        .number("opacity", &watermark_options::opacity, 1.0, 0.0, 1.0,
                "0 is invisible, 1 is the overlay's own alpha")
        .choice("gravity", &watermark_options::gravity, "south-east",
                choice_names(gravity_table),
                "Where the overlay goes (ignored with tile)")
        .integer("margin", &watermark_options::margin, 0, 0, 100000,
                 "Distance from the edges the gravity keeps to, in pixels")
        .number("scale", &watermark_options::scale, 0.0, 0.0, 1.0,
                "Overlay width as a fraction of each image's width (0.2: a "
                "fifth); 0 keeps the overlay's own size")
        .boolean("tile", &watermark_options::tile, false,
                 "Repeat the overlay over the whole image")
        .validate([](const watermark_options& o) {
          if (o.image.empty())
            throw std::invalid_argument("option 'image' is required (the "
                                        "overlay image file)");
        });
  return spec;
}

void register_watermark(stage_registry& registry) {
  registry.add(watermark_spec().filter<watermark_stage>());
}

watermark_stage::watermark_stage(watermark_options opts)
  : opts_(std::move(opts)),
    place_(choice_value("gravity", gravity_table, opts_.gravity)) {
  watermark_spec().enforce(opts_);
  try {
    load_vips_modules_for_file(opts_.image);
    auto in = vips::VImage::new_from_file(opts_.image.c_str());
    if (std::int64_t(in.width()) * in.height() > max_overlay_pixels)
      throw std::invalid_argument(
        fmt::format("the overlay image {} is {}x{}, over {} pixels",
                    opts_.image, in.width(), in.height(), max_overlay_pixels));
    auto srgb = in.colourspace(VIPS_INTERPRETATION_sRGB);
    if (!srgb.has_alpha())
      srgb = srgb.bandjoin_const({255});
    // Opacity scales the overlay's alpha, once, here.
    auto colour = srgb.extract_band(0, vips::VImage::option()->set("n", 3));
    auto alpha = srgb[3] * opts_.opacity;
    overlay_ = as_srgb8(colour.bandjoin(alpha)).copy_memory();
  } catch (const vips::VError& e) {
    throw std::invalid_argument(fmt::format(
      "cannot read the overlay image {}: {}", opts_.image, vips_error_text(e)));
  }
}

void watermark_stage::process(image& img) {
  auto& in = img.pixels;
  if (opts_.opacity == 0)
    return;
  auto overlay = overlay_;
  if (opts_.scale > 0) {
    double factor = opts_.scale * in.width() / overlay.width();
    // Premultiplied, so transparent pixels do not bleed into the edges.
    overlay = as_srgb8(overlay.premultiply().resize(factor).unpremultiply());
  }
  int x = 0;
  int y = 0;
  if (opts_.tile) {
    int across = (in.width() + overlay.width() - 1) / overlay.width();
    int down = (in.height() + overlay.height() - 1) / overlay.height();
    overlay = overlay.replicate(across, down)
                .crop(0, 0, in.width(), in.height());
  } else {
    // An overlay larger than the image is cut to it.
    overlay = overlay.crop(0, 0, std::min(overlay.width(), in.width()),
                           std::min(overlay.height(), in.height()));
    x = gravity_offset(place_.x, in.width(), overlay.width(), opts_.margin);
    y = gravity_offset(place_.y, in.height(), overlay.height(), opts_.margin);
  }
  img.pixels = composite_over(in, overlay, x, y);
}

} // namespace pixline
