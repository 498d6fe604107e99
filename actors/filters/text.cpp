#include "actors/filters/text.hpp"

#include <stdexcept>
#include <utility>
#include <vector>

#include "pipeline/registry.hpp"

namespace pixline {

namespace {

} // namespace

const spec_builder<text_options>& text_spec() {
  static const auto spec
    = spec_builder<text_options>(
        "text",
        "Draw a text label (a watermark) over the image at a gravity "
        "position with an opacity (libvips text and composite)")
        .example("[[filter]]\ntype = \"text\"\ntext = \"© pixline\"\n"
                 "gravity = \"south-east\"\nopacity = 0.6")
        .text("text", &text_options::text, "",
              "The label; required. Pango markup such as <b>bold</b> is "
              "understood, so write & as &amp;")
        .required()
        .text("font", &text_options::font, "sans 24",
              "Pango font description: family, style and size in points, "
              "e.g. \"DejaVu Sans Bold 18\"")
        .integer("dpi", &text_options::dpi, 72, 1, 10000,
                 "Resolution the font size is rendered at: at 72, one point "
                 "is one pixel")
        .text("colour", &text_options::colour, "#ffffff",
              "Colour of the label: \"#rrggbb\", \"#rgb\", \"r,g,b\" or one "
              "grey value, each 0 .. 255")
        .number("opacity", &text_options::opacity, 0.5, 0.0, 1.0,
                "0 is invisible, 1 fully opaque")
        .choice("gravity", &text_options::gravity, "south-east",
                choice_names(gravity_table),
                "The side or corner of the image the label keeps to")
        .integer("margin", &text_options::margin, 10, 0, 100000,
                 "Distance in pixels between the label and the edges it "
                 "keeps to (not used on a centred axis)")
        .validate([](const text_options& o) {
          if (o.text.empty())
            throw std::invalid_argument("option 'text' is required");
          (void)parse_colour("colour", o.colour);
        });
  return spec;
}

void register_text(stage_registry& registry) {
  registry.add(text_spec().filter<text_stage>());
}

text_stage::text_stage(text_options opts)
  : opts_(std::move(opts)),
    colour_(parse_colour("colour", opts_.colour)),
    place_(choice_value("gravity", gravity_table, opts_.gravity)) {
  text_spec().enforce(opts_);
}

void text_stage::process(image& img) {
  auto& in = img.pixels;
  if (opts_.opacity == 0)
    return;
  // Coverage of the glyphs, one uchar band.
  auto mask = vips::VImage::text(opts_.text.c_str(),
                                 vips::VImage::option()
                                   ->set("font", opts_.font.c_str())
                                   ->set("dpi", opts_.dpi));
  auto colour = mask.new_from_image(std::vector<double>(colour_.begin(),
                                                        colour_.end()));
  auto label = colour.bandjoin(mask * opts_.opacity)
                 .cast(VIPS_FORMAT_UCHAR)
                 .copy(vips::VImage::option()->set(
                   "interpretation", VIPS_INTERPRETATION_sRGB));
  int x = gravity_offset(place_.x, in.width(), label.width(), opts_.margin);
  int y = gravity_offset(place_.y, in.height(), label.height(), opts_.margin);
  img.pixels = composite_over(in, label, x, y);
}

} // namespace pixline
