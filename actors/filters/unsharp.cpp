#include "actors/filters/unsharp.hpp"

#include "actors/filters/pixels.hpp"
#include "pipeline/registry.hpp"

namespace pixline {

const spec_builder<unsharp_options>& unsharp_spec() {
  static const auto spec
    = spec_builder<unsharp_options>(
        "unsharp",
        "Sharpen each colour band with a classic unsharp mask, as "
        "ImageMagick -unsharp and Pillow UnsharpMask do; about 5x cheaper "
        "than sharpen")
        .example("[[filter]]\ntype = \"unsharp\"\nradius = 1.0\n"
                 "amount = 0.8\nthreshold = 2")
        .number("radius", &unsharp_options::radius, 1.0, 0.1, 100.0,
                "Sigma of the Gaussian blur the image is compared with, in "
                "pixels; larger sharpens coarser detail")
        .number("amount", &unsharp_options::amount, 1.0, 0.0, 10.0,
                "How much of the difference from the blurred image is added "
                "back: 1 = 100%")
        .number("threshold", &unsharp_options::threshold, 0.0, 0.0, 255.0,
                "Differences smaller than this, in 8-bit levels (0..255, "
                "scaled for 16-bit and float images), are left alone, so "
                "flat areas and noise are not sharpened");
  return spec;
}

void register_unsharp(stage_registry& registry) {
  registry.add(unsharp_spec().filter<unsharp_stage>());
}

void unsharp_stage::process(image& img) {
  img.pixels = on_colour_bands(img.pixels, [&](const vips::VImage& x) {
    // Float precision: libvips 8.14's integer path for 8-bit images
    // approximates the mask (a flat 200 can blur to 196 or 204), which an
    // unsharp mask would turn into a shift of every flat area.
    auto blurred = x.gaussblur(
      opts_.radius,
      vips::VImage::option()->set("precision", VIPS_PRECISION_FLOAT));
    auto diff = x - blurred;
    auto sharpened = x + diff * opts_.amount;
    if (opts_.threshold <= 0)
      return sharpened;
    double level = opts_.threshold * max_value_of(x) / 255.0;
    return (diff.abs() >= level).ifthenelse(sharpened, x);
  });
}

} // namespace pixline
