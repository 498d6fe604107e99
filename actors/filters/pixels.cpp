#include "actors/filters/pixels.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>

namespace pixline {

namespace {

[[noreturn]] void bad_colour(const std::string& option,
                             const std::string& text) {
  throw std::invalid_argument(
    fmt::format("option '{}' must be a colour such as \"#ff8000\", \"#f80\" "
                "or \"255,128,0\" (each 0 .. 255), got \"{}\"",
                option, text));
}

std::string trimmed(const std::string& text) {
  auto begin = text.find_first_not_of(" \t");
  if (begin == std::string::npos)
    return {};
  auto end = text.find_last_not_of(" \t");
  return text.substr(begin, end - begin + 1);
}

rgb_colour parse_hex(const std::string& option, const std::string& text,
                     const std::string& digits) {
  if (digits.size() != 3 && digits.size() != 6)
    bad_colour(option, text);
  for (char c : digits)
    if (!std::isxdigit(static_cast<unsigned char>(c)))
      bad_colour(option, text);
  rgb_colour result{};
  size_t width = digits.size() / 3;
  for (size_t i = 0; i < 3; ++i) {
    int value = std::stoi(digits.substr(i * width, width), nullptr, 16);
    result[i] = width == 1 ? value * 17 : value;
  }
  return result;
}

} // namespace

const choice_table<gravity, 9> gravity_table = {
  {"centre", {1, 1}},     {"north", {1, 0}},      {"south", {1, 2}},
  {"east", {2, 1}},       {"west", {0, 1}},       {"north-east", {2, 0}},
  {"north-west", {0, 0}}, {"south-east", {2, 2}}, {"south-west", {0, 2}},
};

void check_region(int width, int height, int left, int top) {
  if (width <= 0 || height <= 0)
    throw std::invalid_argument(
      fmt::format("'width' and 'height' are required and must be at least 1, "
                  "got {}x{}",
                  width, height));
  if (left < 0 || top < 0)
    throw std::invalid_argument(
      fmt::format("'left' and 'top' must not be negative, got {}, {}", left,
                  top));
}

rgb_colour parse_colour(const std::string& option, const std::string& text) {
  auto t = trimmed(text);
  if (!t.empty() && t[0] == '#')
    return parse_hex(option, text, t.substr(1));
  std::vector<double> values;
  size_t start = 0;
  while (true) {
    auto end = t.find(',', start);
    auto item = trimmed(t.substr(start, end == std::string::npos
                                          ? std::string::npos
                                          : end - start));
    char* stop = nullptr;
    errno = 0;
    double value = std::strtod(item.c_str(), &stop);
    if (item.empty() || *stop != '\0' || errno == ERANGE
        || !std::isfinite(value) || value < 0 || value > 255)
      bad_colour(option, text);
    values.push_back(value);
    if (end == std::string::npos)
      break;
    start = end + 1;
  }
  if (values.size() == 1)
    return {values[0], values[0], values[0]};
  if (values.size() != 3)
    bad_colour(option, text);
  return {values[0], values[1], values[2]};
}

double max_value_of(const vips::VImage& img) {
  switch (img.interpretation()) {
    case VIPS_INTERPRETATION_RGB16:
    case VIPS_INTERPRETATION_GREY16:
      return 65535;
    case VIPS_INTERPRETATION_scRGB:
      return 1;
    default:
      return 255;
  }
}

std::vector<double> colour_for(const vips::VImage& img,
                               const rgb_colour& colour, bool with_alpha) {
  double scale = max_value_of(img) / 255.0;
  bool alpha = img.has_alpha();
  int colours = alpha ? img.bands() - 1 : img.bands();
  std::vector<double> result;
  if (colours < 3) {
    // Rec. 709 luma, as libvips' sRGB to B_W conversion.
    double grey = 0.2126 * colour[0] + 0.7152 * colour[1] + 0.0722 * colour[2];
    result.assign(colours, grey * scale);
  } else {
    for (double c : colour)
      result.push_back(c * scale);
    result.resize(colours, 0.0);
  }
  if (alpha && with_alpha)
    result.push_back(max_value_of(img));
  return result;
}

vips::VImage cast_rounded(const vips::VImage& img, VipsBandFormat format) {
  if (vips_band_format_isfloat(format))
    return img.cast(format);
  return img.round(VIPS_OPERATION_ROUND_RINT).cast(format);
}

vips::VImage
on_colour_bands(const vips::VImage& img,
                const std::function<vips::VImage(const vips::VImage&)>& f,
                bool keep_format) {
  auto format = img.format();
  auto finish = [&](const vips::VImage& out) {
    return keep_format && out.format() != format ? cast_rounded(out, format)
                                                 : out;
  };
  if (!img.has_alpha())
    return finish(f(img));
  int colours = img.bands() - 1;
  auto colour = img.extract_band(0, vips::VImage::option()->set("n", colours));
  auto alpha = img.extract_band(colours);
  auto out = finish(f(colour));
  if (out.format() != alpha.format())
    alpha = alpha.cast(out.format());
  return out.bandjoin(alpha);
}

vips::VImage as_srgb8(const vips::VImage& img) {
  return cast_rounded(img, VIPS_FORMAT_UCHAR)
    .copy(vips::VImage::option()->set("interpretation",
                                      VIPS_INTERPRETATION_sRGB));
}

int gravity_offset(int halves, int room, int size, int margin) {
  switch (halves) {
    case 0:
      return margin;
    case 2:
      return room - size - margin;
    default:
      return (room - size) / 2;
  }
}

vips::VImage composite_over(const vips::VImage& in,
                            const vips::VImage& overlay, int x, int y) {
  auto space = in.guess_interpretation();
  auto format = in.format();
  bool alpha = in.has_alpha();
  // Composited in 8-bit sRGB; other images go there and back.
  auto base = space == VIPS_INTERPRETATION_sRGB
                ? in
                : in.colourspace(VIPS_INTERPRETATION_sRGB,
                                 vips::VImage::option()->set("source_space",
                                                             space));
  auto out = base.composite2(overlay, VIPS_BLEND_MODE_OVER,
                             vips::VImage::option()->set("x", x)->set("y", y));
  // composite2 always adds alpha; an image without alpha stays without.
  if (!alpha)
    out = out.extract_band(0, vips::VImage::option()->set("n", 3));
  out = as_srgb8(out);
  if (space != VIPS_INTERPRETATION_sRGB)
    out = out.colourspace(space);
  return out.format() == format ? out : cast_rounded(out, format);
}

} // namespace pixline
