#include "actors/io/formats/webp.hpp"

#include <algorithm>

#include "actors/io/formats/formats.hpp"

namespace pixline {

namespace {

encoded_file encode(const vips::VImage& img, const webp_options& o,
                    save_context& context) {
  return save_to_buffer(img, ".webp",
                        save_options(context)
                          ->set("Q", o.quality)
                          ->set("lossless", o.lossless)
                          ->set("effort", std::min(o.effort, 6)));
}

} // namespace

const spec_builder<webp_options>& webp_spec() {
  static const auto spec = [] {
    spec_builder<webp_options> b("webp", "Lossy or lossless, with alpha");
    quality_option(b, &webp_options::quality, "Quality");
    lossless_option(b, &webp_options::lossless, "Lossless webp");
    effort_option(b, &webp_options::effort,
                  "libwebp's effort, 0 – 6; 7 – 9 are taken as 6");
    return b;
  }();
  return spec;
}

output_format webp_format() {
  return make_output_format("webp", "webp", webp_spec(), &format_options::webp,
                            encode);
}

} // namespace pixline
