#include "actors/filters/rotate.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "actors/filters/pixels.hpp"
#include "pipeline/registry.hpp"

namespace pixline {

namespace {

std::vector<double> parse_background(const std::string& text) {
  std::vector<double> values;
  size_t start = 0;
  while (true) {
    auto end = text.find(',', start);
    auto item = text.substr(start, end == std::string::npos ? std::string::npos
                                                            : end - start);
    const char* begin = item.c_str();
    char* stop = nullptr;
    errno = 0;
    double value = std::strtod(begin, &stop);
    while (stop && (*stop == ' ' || *stop == '\t'))
      ++stop;
    if (stop == begin || *stop != '\0' || errno == ERANGE
        || !std::isfinite(value))
      throw std::invalid_argument(
        fmt::format("option 'background' must be comma-separated "
                    "numbers such as \"255,255,255\", got \"{}\"",
                    text));
    values.push_back(value);
    if (end == std::string::npos)
      return values;
    start = end + 1;
  }
}

} // namespace

std::vector<double> background_for_bands(const std::vector<double>& values,
                                         int bands, bool alpha,
                                         double max_alpha) {
  if (int(values.size()) == bands)
    return values;
  int colours = alpha ? bands - 1 : bands;
  bool uniform = std::all_of(values.begin(), values.end(),
                             [&](double v) { return v == values.front(); });
  std::vector<double> result;
  if (int(values.size()) == colours)
    result = values;
  else if (!values.empty() && uniform)
    result.assign(colours, values.front());
  else
    throw stage_error(
      fmt::format("background has {} values but the image has {} "
                  "band{}",
                  values.size(), bands, bands == 1 ? "" : "s"));
  if (alpha)
    result.push_back(max_alpha);
  return result;
}

const spec_builder<rotate_options>& rotate_spec() {
  static const auto spec
    = spec_builder<rotate_options>("rotate",
                                   "Rotate clockwise by any angle; multiples "
                                   "of 90 degrees are exact (libvips rot and "
                                   "rotate)")
        .example("[[filter]]\ntype = \"rotate\"\nangle = 90")
        .random_access()
        .number("angle", &rotate_options::angle, 90.0, -360.0, 360.0,
                "Degrees clockwise (negative: anticlockwise); angles other "
                "than multiples of 90 resample and enlarge the image")
        .text("background", &rotate_options::background, "0,0,0",
              "Colour of the corners uncovered by angles other than "
              "multiples of 90: comma-separated band values; one value (or "
              "equal values) fills every band, and alpha, if not given, is "
              "opaque")
        .validate([](const rotate_options& o) {
          (void)parse_background(o.background);
        });
  return spec;
}

void register_rotate(stage_registry& registry) {
  registry.add(rotate_spec().filter<rotate_stage>());
}

rotate_stage::rotate_stage(rotate_options opts)
  : opts_(std::move(opts)), background_(parse_background(opts_.background)) {
  if (!std::isfinite(opts_.angle))
    throw std::invalid_argument("option 'angle' must be a number");
  angle_ = std::fmod(opts_.angle, 360.0);
  if (angle_ < 0)
    angle_ += 360.0;
}

void rotate_stage::process(image& img) {
  if (angle_ == 0)
    return;
  if (angle_ == 90 || angle_ == 180 || angle_ == 270) {
    auto angle = angle_ == 90    ? VIPS_ANGLE_D90
                 : angle_ == 180 ? VIPS_ANGLE_D180
                                 : VIPS_ANGLE_D270;
    img.pixels = img.pixels.rot(angle);
    return;
  }
  // libvips' rotate turns clockwise like rot, whatever its doc string says.
  auto background = background_for_bands(background_, img.pixels.bands(),
                                         img.pixels.has_alpha(),
                                         max_value_of(img.pixels));
  img.pixels = img.pixels.rotate(
    angle_, vips::VImage::option()->set("background", background));
}

} // namespace pixline
