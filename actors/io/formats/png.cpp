#include "actors/io/formats/png.hpp"

#include <algorithm>

#include "actors/io/formats/formats.hpp"

namespace pixline {

namespace {

encoded_file encode(const vips::VImage& img, const png_options& o,
                    save_context& context) {
  auto opts = save_options(context)
                ->set("compression", o.compression)
                ->set("interlace", o.progressive);
  if (o.palette)
    opts->set("palette", true)
      ->set("Q", o.quality)
      ->set("effort", std::clamp(o.effort + 3, 1, 10));
  return save_to_buffer(img, ".png", opts);
}

} // namespace

const spec_builder<png_options>& png_spec() {
  static const auto spec = [] {
    spec_builder<png_options> b("png", "Lossless, with alpha");
    b.integer("compression", &png_options::compression, 6, 0, 9,
              "zlib level");
    progressive_option(b, &png_options::progressive, "Interlaced png");
    b.boolean("palette", &png_options::palette, false,
              "Quantise to an 8-bit palette (smaller files; 'quality' and "
              "'effort' steer the quantiser)");
    quality_option(b, &png_options::quality,
                   "With `palette = true`: the quantiser's quality");
    effort_option(b, &png_options::effort,
                  "With `palette = true`: the quantiser's effort, 0 – 9 "
                  "taken as libvips' 3 – 10");
    return b;
  }();
  return spec;
}

output_format png_format() {
  return make_output_format("png", "png", png_spec(), &format_options::png,
                            encode);
}

} // namespace pixline
