#include "actors/filters/icc.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "actors/filters/pixels.hpp"
#include "pipeline/registry.hpp"

namespace pixline {

namespace {

// libvips' built-in profiles (vips_profile_load names, any case).
const char* const builtin_profiles[] = {"srgb", "p3", "cmyk"};

const choice_table<VipsIntent, 4> intent_names = {
  {"perceptual", VIPS_INTENT_PERCEPTUAL},
  {"relative", VIPS_INTENT_RELATIVE},
  {"saturation", VIPS_INTENT_SATURATION},
  {"absolute", VIPS_INTENT_ABSOLUTE},
};

bool is_builtin(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return std::find(std::begin(builtin_profiles), std::end(builtin_profiles),
                   name)
         != std::end(builtin_profiles);
}

// A file is an ICC profile when its header carries the "acsp" signature at
// byte 36 (ICC.1, 7.2.1).
void check_profile(const char* option, const std::string& name) {
  if (is_builtin(name))
    return;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(name, ec))
    throw std::invalid_argument(
      fmt::format("option '{}': ICC profile file \"{}\" does not exist "
                  "(built-in profiles: srgb, p3, cmyk)",
                  option, name));
  std::ifstream in(name, std::ios::binary);
  char header[40] = {};
  in.read(header, sizeof header);
  if (in.gcount() != sizeof header
      || std::string(header + 36, 4) != "acsp")
    throw std::invalid_argument(
      fmt::format("option '{}': \"{}\" is not an ICC profile", option,
                  name));
}

} // namespace

const spec_builder<icc_options>& icc_spec() {
  static const auto spec
    = spec_builder<icc_options>(
        "icc",
        "Convert to an ICC profile from the image's embedded profile (or "
        "input_profile) and attach it (libvips icc_transform)")
        .example("[[filter]]\ntype = \"icc\"\nprofile = \"srgb\"")
        .text("profile", &icc_options::profile, "srgb",
              "Target profile: built-in \"srgb\", \"p3\" or \"cmyk\", or the "
              "path of an .icc file (checked when the config is read). "
              "save's strip = true drops the attached profile: set "
              "strip = false to keep it in the file")
        .names_file({std::begin(builtin_profiles), std::end(builtin_profiles)})
        .text("input_profile", &icc_options::input_profile, "srgb",
              "Profile assumed for images that embed none: built-in name or "
              "path, as for profile. Grey images without a profile are "
              "taken as sRGB grey")
        .names_file({std::begin(builtin_profiles), std::end(builtin_profiles)})
        .choice("intent", &icc_options::intent, "relative",
                choice_names(intent_names), "Rendering intent")
        .boolean("black_point_compensation",
                 &icc_options::black_point_compensation, false,
                 "Map the black points of the two profiles onto each other");
  return spec;
}

void register_icc(stage_registry& registry) {
  registry.add(icc_spec().filter<icc_stage>());
}

icc_stage::icc_stage(icc_options opts) : opts_(std::move(opts)) {
  check_profile("profile", opts_.profile);
  check_profile("input_profile", opts_.input_profile);
  intent_ = choice_value("intent", intent_names, opts_.intent);
}

void icc_stage::process(image& img) {
  auto in = img.pixels;
  bool embedded = in.get_typeof(VIPS_META_ICC_NAME) != 0;
  auto space = in.guess_interpretation();
  if (!embedded
      && (space == VIPS_INTERPRETATION_B_W
          || space == VIPS_INTERPRETATION_GREY16))
    // An RGB input profile cannot describe one band.
    in = in.colourspace(space == VIPS_INTERPRETATION_B_W
                          ? VIPS_INTERPRETATION_sRGB
                          : VIPS_INTERPRETATION_RGB16);
  bool deep = in.format() == VIPS_FORMAT_USHORT;
  img.pixels = in.icc_transform(
    opts_.profile.c_str(),
    vips::VImage::option()
      ->set("embedded", true)
      ->set("input_profile", opts_.input_profile.c_str())
      ->set("intent", intent_)
      ->set("black_point_compensation", opts_.black_point_compensation)
      ->set("depth", deep ? 16 : 8));
}

} // namespace pixline
