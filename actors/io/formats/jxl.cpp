#include "actors/io/formats/jxl.hpp"

#include <algorithm>

#include "actors/io/formats/formats.hpp"
#include "pipeline/vips_modules.hpp"

namespace pixline {

namespace {

encoded_file encode(const vips::VImage& img, const jxl_options& o,
                    save_context& context) {
  load_vips_modules(); // libjxl is one of libvips' modules
  return save_to_buffer(img, ".jxl",
                        save_options(context)
                          ->set("Q", o.quality)
                          ->set("lossless", o.lossless)
                          ->set("effort", std::max(1, o.effort)));
}

} // namespace

const spec_builder<jxl_options>& jxl_spec() {
  static const auto spec = [] {
    spec_builder<jxl_options> b("jxl", "JPEG XL, lossy or lossless, with "
                                       "alpha");
    quality_option(b, &jxl_options::quality, "Quality");
    lossless_option(b, &jxl_options::lossless, "Lossless encoding");
    effort_option(b, &jxl_options::effort,
                  "libjxl's effort, 1 – 9; 0 is taken as 1");
    return b;
  }();
  return spec;
}

output_format jxl_format() {
  return make_output_format("jxl", "jxl", jxl_spec(), &format_options::jxl,
                            encode);
}

} // namespace pixline
