#include "actors/io/formats/tiff.hpp"

#include "actors/io/formats/formats.hpp"

namespace pixline {

namespace {

encoded_file encode(const vips::VImage& img, const tiff_options& o,
                    save_context& context) {
  bool tiled = o.tile || o.pyramid;
  auto opts = save_options(context)
                ->set("compression", VIPS_FOREIGN_TIFF_COMPRESSION_DEFLATE)
                ->set("tile", tiled)
                ->set("pyramid", o.pyramid);
  if (tiled)
    opts->set("tile_width", 256)->set("tile_height", 256);
  return save_to_buffer(img, ".tif", opts);
}

} // namespace

const spec_builder<tiff_options>& tiff_spec() {
  static const auto spec = [] {
    spec_builder<tiff_options> b("tiff", "Deflate-compressed, with alpha");
    b.boolean("tile", &tiff_options::tile, false,
              "Write 256x256 tiles instead of strips")
      .boolean("pyramid", &tiff_options::pyramid, false,
               "Add half-size levels down to one tile (implies tile), for "
               "deep-zoom viewers");
    return b;
  }();
  return spec;
}

output_format tiff_format() {
  return make_output_format("tiff", "tif", tiff_spec(), &format_options::tiff,
                            encode);
}

} // namespace pixline
