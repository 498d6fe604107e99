#include "actors/filters/resize.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "actors/filters/resample.hpp"
#include "pipeline/registry.hpp"

namespace pixline {

namespace {

constexpr double min_scale = 0.0001;
constexpr double max_scale = 100.0;
constexpr double max_gap = 1000000.0; // libvips' own bound

/// The rules between resize's options; throws std::invalid_argument.
void check_resize(const resize_options& o) {
  bool by_size = o.width != 0 || o.height != 0;
  bool by_scale = o.scale != 0;
  if (by_size && by_scale)
    throw std::invalid_argument(
      "set either 'scale' or 'width'/'height', not both");
  if (!by_size && !by_scale)
    throw std::invalid_argument(
      "set 'scale', or 'width' and/or 'height'");
  if (by_scale && !(o.scale >= min_scale && o.scale <= max_scale))
    throw std::invalid_argument(
      fmt::format("option 'scale' must be between {} and {}, got {}",
                  min_scale, max_scale, o.scale));
  if (o.width < 0 || o.height < 0)
    throw std::invalid_argument(
      fmt::format("width and height must not be negative, got {}x{}",
                  o.width, o.height));
}

} // namespace

const spec_builder<resize_options>& resize_spec() {
  static const auto spec
    = spec_builder<resize_options>(
        "resize",
        "Resize by a factor, to a width or height keeping the aspect ratio, "
        "or to an exact width x height (libvips resize)")
        .example("[[filter]]\ntype = \"resize\"\nwidth = 800")
        .integer("width", &resize_options::width, 0, 0, 100000,
                 "Output width in pixels; alone, the height follows the "
                 "aspect ratio. 0 means not set")
        .integer("height", &resize_options::height, 0, 0, 100000,
                 "Output height in pixels; alone, the width follows the "
                 "aspect ratio; with width, the image is stretched to exactly "
                 "width x height. 0 means not set")
        .number("scale", &resize_options::scale, 0.0, 0.0, max_scale,
                "Scale factor for both axes (0.0001 .. 100), instead of "
                "width/height. 0 means not set")
        .choice("size", &resize_options::size, "both",
                {"both", "down", "up"},
                "'both' resizes either way; 'down' only shrinks: an image "
                "already within width/height (or a scale over 1) is left "
                "as it is, 'up' only enlarges; with both width and height, "
                "each axis on its own (as libvips' thumbnail does)")
        .choice("kernel", &resize_options::kernel, "lanczos3",
                choice_names(kernel_table),
                "Resampling kernel: 'nearest' keeps hard pixel edges, "
                "'lanczos3' is the sharpest for photos")
        .number("gap", &resize_options::gap, 2.0, 0.0, max_gap,
                "When shrinking, first shrink by a whole factor with a box "
                "filter, leaving at least gap times the output size for the "
                "kernel (libvips' reducing gap). 0 turns the box shrink off: "
                "the kernel does the whole reduction, which filters best; "
                "with libvips 8.14 that was faster for reductions by 4 to 8 "
                "and far slower by 16 (bench/HISTORY.md)")
        .validate(check_resize);
  return spec;
}

void register_resize(stage_registry& registry) {
  registry.add(resize_spec().filter<resize_stage>());
}

resize_stage::resize_stage(resize_options opts)
  : opts_(std::move(opts)), kernel_(choice_value("kernel", kernel_table, opts_.kernel)) {
  check_resize(opts_);
}

void resize_stage::process(image& img) {
  auto& in = img.pixels;
  double hscale = opts_.scale;
  double vscale = opts_.scale;
  if (opts_.scale == 0) {
    hscale = double(opts_.width) / in.width();
    vscale = double(opts_.height) / in.height();
    if (opts_.width == 0)
      hscale = vscale;
    else if (opts_.height == 0)
      vscale = hscale;
  }
  if (opts_.size == "down") {
    hscale = std::min(hscale, 1.0);
    vscale = std::min(vscale, 1.0);
  } else if (opts_.size == "up") {
    hscale = std::max(hscale, 1.0);
    vscale = std::max(vscale, 1.0);
  }
  if (hscale == 1.0 && vscale == 1.0)
    return;
  auto resized = [&](const vips::VImage& x) {
    return resize_image(x, hscale, vscale, kernel_, opts_.gap);
  };
  if (!in.has_alpha()) {
    img.pixels = resized(in);
    return;
  }
  // Resampling straight alpha bleeds the colour of transparent pixels into
  // the edges; libvips' thumbnail premultiplies for the same reason.
  auto format = in.format();
  img.pixels = resized(premultiply_image(in)).unpremultiply().cast(format);
}

} // namespace pixline
