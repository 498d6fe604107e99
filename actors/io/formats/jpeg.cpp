#include "actors/io/formats/jpeg.hpp"

#include <cstdint>
#include <vector>

#include "actors/io/formats/formats.hpp"
#include "actors/io/jpeg_encoder.hpp"

namespace pixline {

namespace {

const choice_table<VipsForeignSubsample, 3> subsample_names = {
  {"auto", VIPS_FOREIGN_SUBSAMPLE_AUTO},
  {"on", VIPS_FOREIGN_SUBSAMPLE_ON},
  {"off", VIPS_FOREIGN_SUBSAMPLE_OFF},
};

/// Largest output `optimize = "auto"` optimises: 16 MP, whose coefficient
/// buffer is 32 MB.
constexpr std::int64_t optimize_auto_max_pixels = 16'000'000;

/// `img` flattened on `background` ("white" or "black") when it has alpha,
/// which jpeg cannot hold; libvips' saver would flatten on black.
vips::VImage flattened(const vips::VImage& img, const std::string& background) {
  if (!img.has_alpha())
    return img;
  // In the image's own units (libvips' vips_interpretation_max_alpha,
  // which 8.14 does not export): white is 65535 in a 16-bit image.
  auto kind = img.interpretation();
  double white = kind == VIPS_INTERPRETATION_RGB16
                     || kind == VIPS_INTERPRETATION_GREY16
                   ? 65535.0
                 : kind == VIPS_INTERPRETATION_scRGB ? 1.0
                                                     : 255.0;
  double value = background == "white" ? white : 0.0;
  return img.flatten(
    vips::VImage::option()
      ->set("background", std::vector<double>(img.bands() - 1, value))
      ->set("max_alpha", white));
}

encoded_file encode(const vips::VImage& img, const jpeg_options& o,
                    save_context& context) {
  jpeg_settings jpeg;
  jpeg.quality = o.quality;
  jpeg.progressive = o.progressive;
  jpeg.optimize = o.optimize == "on"
                  || (o.optimize == "auto"
                      && std::int64_t(img.width()) * img.height()
                           <= optimize_auto_max_pixels);
  jpeg.subsample = choice_value("subsample", subsample_names, o.subsample);
  // At one libvips thread per image, the images in flight keep the cores
  // busy, and libvips' saver only adds thread hand-overs (encode_jpeg_here).
  if (context.strip && vips_concurrency_get() == 1 && jpeg_encodable_here(img))
    return encode_jpeg_here(img, jpeg, [&] { context.deadline.check(); });
  return save_to_buffer(img, ".jpg",
                        save_options(context)
                          ->set("Q", jpeg.quality)
                          ->set("interlace", jpeg.progressive)
                          ->set("optimize_coding", jpeg.optimize)
                          ->set("subsample_mode", jpeg.subsample));
}

} // namespace

const spec_builder<jpeg_options>& jpeg_spec() {
  static const auto spec = [] {
    spec_builder<jpeg_options> b("jpeg", "libjpeg-turbo; no alpha channel");
    quality_option(b, &jpeg_options::quality, "Quality; `subsample = "
                                              "\"auto\"` subsamples below 90");
    progressive_option(b, &jpeg_options::progressive,
                       "Progressive jpeg (libjpeg then buffers the whole "
                       "image's coefficients: 2 bytes per pixel)");
    b.choice("optimize", &jpeg_options::optimize, "auto", {"auto", "on", "off"},
             "Optimised Huffman tables, a few percent smaller files for a "
             "little CPU. libjpeg then buffers the whole image's "
             "coefficients (2 bytes per pixel), so 'auto' optimises outputs "
             "up to 16 megapixels and streams larger ones")
      .choice("subsample", &jpeg_options::subsample, "auto",
              choice_names(subsample_names),
              "Chroma subsampling (4:2:0): 'auto' subsamples below quality "
              "90, 'off' keeps full colour resolution (sharper red text, "
              "larger files). libvips' mozjpeg-only options (trellis "
              "quantisation, overshoot deringing, scan optimisation, quant "
              "tables) do nothing with Debian's libjpeg-turbo, so pixline "
              "does not offer them")
      .choice("background", &jpeg_options::background, "white",
              {"white", "black"},
              "jpeg has no alpha channel: the colour an image with alpha is "
              "flattened on, so transparent pixels come out this colour "
              "(libvips' own jpegsave would make them black). The formats "
              "with alpha keep it");
    return b;
  }();
  return spec;
}

output_format jpeg_format() {
  return make_output_format(
    "jpeg", "jpg", jpeg_spec(), &format_options::jpeg, encode,
    [](const vips::VImage& img, const jpeg_options& o) {
      return flattened(img, o.background);
    });
}

} // namespace pixline
