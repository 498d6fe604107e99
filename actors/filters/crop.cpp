#include "actors/filters/crop.hpp"

#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "pipeline/registry.hpp"

namespace pixline {

namespace {

std::vector<std::string> gravity_choices() {
  auto result = choice_names(gravity_table);
  result.insert(result.begin(), "none");
  return result;
}

std::optional<crop_stage::placement> placement_of(const std::string& name) {
  if (name == "none")
    return std::nullopt;
  for (auto& entry : gravity_table)
    if (name == entry.first)
      return entry.second;
  throw std::invalid_argument(
    fmt::format("option 'gravity' must be one of {}, got \"{}\"",
                fmt::join(gravity_choices(), ", "), name));
}

} // namespace

const spec_builder<crop_options>& crop_spec() {
  static const auto spec
    = spec_builder<crop_options>("crop",
                                 "Cut a width x height box out of the image, "
                                 "at left/top or placed by gravity")
        .example("[[filter]]\ntype = \"crop\"\nwidth = 800\nheight = 600\n"
                 "gravity = \"centre\"")
        .integer("width", &crop_options::width, 0, 0, 100000,
                 "Width of the box in pixels; required (0, not set, is an "
                 "error)")
        .integer("height", &crop_options::height, 0, 0, 100000,
                 "Height of the box in pixels; required (0, not set, is an "
                 "error)")
        .integer("left", &crop_options::left, 0, 0, 100000,
                 "Left edge of the box, in pixels from the image's left; "
                 "ignored unless gravity is 'none'")
        .integer("top", &crop_options::top, 0, 0, 100000,
                 "Top edge of the box, in pixels from the image's top; "
                 "ignored unless gravity is 'none'")
        .choice("gravity", &crop_options::gravity, "none", gravity_choices(),
                "'none' places the box at left/top; otherwise the side or "
                "corner of the image the box keeps to ('centre' keeps the "
                "middle)")
        .validate([](const crop_options& o) {
          check_region(o.width, o.height, o.left, o.top);
        });
  return spec;
}

void register_crop(stage_registry& registry) {
  registry.add(crop_spec().filter<crop_stage>());
}

crop_stage::crop_stage(crop_options opts)
  : opts_(std::move(opts)), place_(placement_of(opts_.gravity)) {
  crop_spec().enforce(opts_);
}

void crop_stage::process(image& img) {
  int image_w = img.pixels.width();
  int image_h = img.pixels.height();
  int w = opts_.width;
  int h = opts_.height;
  if (!place_) {
    // Compare in 64 bits: left + width may overflow int.
    if (std::int64_t{opts_.left} + w > image_w
        || std::int64_t{opts_.top} + h > image_h)
      throw stage_error(
        fmt::format("crop box {}x{} at left {}, top {} does not fit in the "
                    "{}x{} image",
                    w, h, opts_.left, opts_.top, image_w, image_h));
    img.pixels = img.pixels.extract_area(opts_.left, opts_.top, w, h);
    return;
  }
  if (w > image_w || h > image_h)
    throw stage_error(
      fmt::format("crop box {}x{} (gravity {}) does not fit in the {}x{} "
                  "image",
                  w, h, opts_.gravity, image_w, image_h));
  int left = (image_w - w) * place_->x / 2;
  int top = (image_h - h) * place_->y / 2;
  img.pixels = img.pixels.extract_area(left, top, w, h);
}

} // namespace pixline
