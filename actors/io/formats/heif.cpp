#include "actors/io/formats/heif.hpp"

#include "actors/io/formats/formats.hpp"
#include "pipeline/vips_modules.hpp"

namespace pixline {

const spec_builder<heif_options>& heif_spec() {
  static const auto spec = [] {
    spec_builder<heif_options> b("avif, heif",
                                 "AV1 (avif) or HEVC (heif) in a HEIF "
                                 "container, with alpha");
    quality_option(b, &heif_options::quality, "Quality");
    lossless_option(b, &heif_options::lossless, "Lossless encoding");
    effort_option(b, &heif_options::effort,
                  "The encoder's effort, 0 – 9 (libheif's own range)");
    return b;
  }();
  return spec;
}

namespace {

/// heifsave with `compression`, into a file named with `suffix`.
output_format heif_family(const char* name, const char* suffix,
                          VipsForeignHeifCompression compression) {
  return make_output_format(
    name, name, heif_spec(), &format_options::heif,
    [suffix, compression](const vips::VImage& img, const heif_options& o,
                          save_context& context) {
      load_vips_modules(); // libheif is one of libvips' modules
      return save_to_buffer(img, suffix,
                            save_options(context)
                              ->set("Q", o.quality)
                              ->set("lossless", o.lossless)
                              ->set("effort", o.effort)
                              ->set("compression", compression));
    });
}

} // namespace

output_format avif_format() {
  return heif_family("avif", ".avif", VIPS_FOREIGN_HEIF_COMPRESSION_AV1);
}

output_format heif_format() {
  return heif_family("heif", ".heic", VIPS_FOREIGN_HEIF_COMPRESSION_HEVC);
}

} // namespace pixline
