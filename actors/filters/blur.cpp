#include "actors/filters/blur.hpp"

#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "actors/filters/pixels.hpp"
#include "pipeline/registry.hpp"

namespace pixline {

namespace {

constexpr double min_sigma = 0.01;
constexpr double max_sigma = 1000.0;

const choice_table<VipsPrecision, 3> precision_names = {
  {"integer", VIPS_PRECISION_INTEGER},
  {"float", VIPS_PRECISION_FLOAT},
  {"approximate", VIPS_PRECISION_APPROXIMATE},
};

} // namespace

const spec_builder<blur_options>& blur_spec() {
  static const auto spec
    = spec_builder<blur_options>("blur",
                                 "Gaussian blur; alpha is premultiplied so "
                                 "transparent pixels do not bleed (libvips "
                                 "gaussblur)")
        .example("[[filter]]\ntype = \"blur\"\nsigma = 2.5")
        .number("sigma", &blur_options::sigma, 1.5, min_sigma, max_sigma,
                "Standard deviation of the Gaussian, in pixels; the blur "
                "reaches about 3 sigma")
        .number("min_ampl", &blur_options::min_ampl, 0.2, 0.001, 1.0,
                "The mask is cut where the Gaussian falls below this "
                "fraction of its peak: smaller is more accurate and slower")
        .choice("precision", &blur_options::precision, "integer",
                choice_names(precision_names),
                "Arithmetic of the convolution: 'integer' is fast and exact "
                "enough for 8-bit images, 'float' for 16-bit and float "
                "images, 'approximate' is fastest for large sigmas");
  return spec;
}

void register_blur(stage_registry& registry) {
  registry.add(blur_spec().filter<blur_stage>());
}

blur_stage::blur_stage(blur_options opts)
  : opts_(std::move(opts)),
    precision_(choice_value("precision", precision_names, opts_.precision)) {
  if (!(opts_.sigma >= min_sigma && opts_.sigma <= max_sigma))
    throw std::invalid_argument(
      fmt::format("option 'sigma' must be between {} and {}, got {}",
                  min_sigma, max_sigma, opts_.sigma));
}

void blur_stage::process(image& img) {
  auto& in = img.pixels;
  auto blur = [&](const vips::VImage& x) {
    return x.gaussblur(opts_.sigma, vips::VImage::option()
                                      ->set("min_ampl", opts_.min_ampl)
                                      ->set("precision", precision_));
  };
  auto format = in.format();
  if (!in.has_alpha()) {
    img.pixels = cast_rounded(blur(in), format);
    return;
  }
  img.pixels = cast_rounded(blur(in.premultiply()).unpremultiply(), format);
}

} // namespace pixline
