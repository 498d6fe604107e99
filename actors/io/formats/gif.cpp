#include "actors/io/formats/gif.hpp"

#include <algorithm>

#include "actors/io/formats/formats.hpp"

namespace pixline {

namespace {

encoded_file encode(const vips::VImage& img, const gif_options& o,
                    save_context& context) {
  return save_to_buffer(
    img, ".gif", save_options(context)->set("effort", std::max(1, o.effort)));
}

} // namespace

const spec_builder<gif_options>& gif_spec() {
  static const auto spec = [] {
    spec_builder<gif_options> b("gif", "256 colours, with 1-bit alpha");
    effort_option(b, &gif_options::effort,
                  "The quantiser's effort, 1 – 9; 0 is taken as 1");
    return b;
  }();
  return spec;
}

output_format gif_format() {
  return make_output_format("gif", "gif", gif_spec(), &format_options::gif,
                            encode);
}

} // namespace pixline
