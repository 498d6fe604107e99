#include "actors/filters/embed.hpp"

#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "pipeline/registry.hpp"

namespace pixline {

namespace {

// The one list of extend modes: the spec shows them, the stage maps them.
const choice_table<VipsExtend, 6> extend_names = {
  {"black", VIPS_EXTEND_BLACK},   {"white", VIPS_EXTEND_WHITE},
  {"copy", VIPS_EXTEND_COPY},     {"mirror", VIPS_EXTEND_MIRROR},
  {"repeat", VIPS_EXTEND_REPEAT}, {"background", VIPS_EXTEND_BACKGROUND},
};

constexpr int max_border = 100000;

} // namespace

const spec_builder<embed_options>& embed_spec() {
  static const auto spec
    = spec_builder<embed_options>(
        "embed",
        "Add borders (padding) around the image, filled with a colour or "
        "with the image's own edges (libvips embed)")
        .example("[[filter]]\ntype = \"embed\"\nall = 20\n"
                 "extend = \"background\"\nbackground = \"#336699\"")
        // 'mirror' and 'repeat' read the bottom rows to make the top border.
        .random_access()
        .integer("top", &embed_options::top, 0, 0, max_border,
                 "Pixels added above the image")
        .integer("right", &embed_options::right, 0, 0, max_border,
                 "Pixels added to the right of the image")
        .integer("bottom", &embed_options::bottom, 0, 0, max_border,
                 "Pixels added below the image")
        .integer("left", &embed_options::left, 0, 0, max_border,
                 "Pixels added to the left of the image")
        .integer("all", &embed_options::all, 0, 0, max_border,
                 "Pixels added on every side, instead of top/right/bottom/"
                 "left")
        .choice("extend", &embed_options::extend, "background",
                choice_names(extend_names),
                "What fills the borders: 'black' and 'white' set every band "
                "(alpha too, so black is transparent), 'copy' repeats the "
                "edge pixels, 'mirror' reflects the image, 'repeat' tiles "
                "it, 'background' uses the background colour, opaque")
        .text("background", &embed_options::background, "#000000",
              "Colour of the borders for extend 'background': \"#rrggbb\", "
              "\"#rgb\", \"r,g,b\" or one grey value, each 0 .. 255")
        .validate([](const embed_options& o) {
          bool sides = o.top != 0 || o.right != 0 || o.bottom != 0
                       || o.left != 0;
          if (o.all != 0 && sides)
            throw std::invalid_argument(
              "set either 'all' or 'top'/'right'/'bottom'/'left', not both");
          (void)parse_colour("background", o.background);
        });
  return spec;
}

void register_embed(stage_registry& registry) {
  registry.add(embed_spec().filter<embed_stage>());
}

embed_stage::embed_stage(embed_options opts)
  : top_(opts.top),
    right_(opts.right),
    bottom_(opts.bottom),
    left_(opts.left),
    extend_(choice_value("extend", extend_names, opts.extend)),
    background_(parse_colour("background", opts.background)) {
  embed_spec().enforce(opts);
  if (opts.all != 0)
    top_ = right_ = bottom_ = left_ = opts.all;
  if (top_ < 0 || right_ < 0 || bottom_ < 0 || left_ < 0)
    throw std::invalid_argument(
      fmt::format("borders must not be negative, got top {}, right {}, "
                  "bottom {}, left {}",
                  top_, right_, bottom_, left_));
}

void embed_stage::process(image& img) {
  auto& in = img.pixels;
  std::int64_t width = std::int64_t{in.width()} + left_ + right_;
  std::int64_t height = std::int64_t{in.height()} + top_ + bottom_;
  if (width > VIPS_MAX_COORD || height > VIPS_MAX_COORD)
    throw stage_error(
      fmt::format("borders make the {}x{} image {}x{}, larger than libvips' "
                  "limit of {} pixels a side",
                  in.width(), in.height(), width, height, VIPS_MAX_COORD));
  auto options = vips::VImage::option()->set("extend", extend_);
  if (extend_ == VIPS_EXTEND_BACKGROUND)
    options->set("background", colour_for(in, background_, true));
  img.pixels = in.embed(left_, top_, int(width), int(height), options);
}

} // namespace pixline
