#include "actors/filters/strip.hpp"

#include <memory>

#include "pipeline/registry.hpp"

namespace pixline {

namespace {

// Whole names and name prefixes of the metadata the stage removes.
const char* const removed_names[] = {
  VIPS_META_XMP_NAME, VIPS_META_IPTC_NAME, VIPS_META_PHOTOSHOP_NAME,
  VIPS_META_IMAGEDESCRIPTION, "gif-comment",
};
const char* const removed_prefixes[] = {
  "exif-", "png-comment-", "jpeg-comment", "jpeg-thumbnail",
};

bool starts_with(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

} // namespace

const spec_builder<strip_options>& strip_spec() {
  static const auto spec
    = spec_builder<strip_options>(
        "strip",
        "Remove metadata: EXIF, XMP, IPTC, Photoshop data, descriptions and "
        "comments; the ICC profile and orientation stay unless told")
        .example("[[filter]]\ntype = \"strip\"\nkeep_icc = true")
        .boolean("keep_icc", &strip_options::keep_icc, true,
                 "Keep the ICC profile, so colours of images not in sRGB "
                 "stay right")
        .boolean("keep_orientation", &strip_options::keep_orientation, true,
                 "Keep the orientation tag, so viewers still show the image "
                 "upright (or run autorotate first). Savers that write EXIF "
                 "store orientation, resolution and size in a minimal EXIF "
                 "block of their own; save's strip = true drops even that");
  return spec;
}

void register_strip(stage_registry& registry) {
  registry.add(strip_spec().filter<strip_stage>());
}

std::vector<std::string>
strip_stage::fields_to_remove(const vips::VImage& img) const {
  std::unique_ptr<gchar*, void (*)(gchar**)> fields(
    vips_image_get_fields(img.get_image()), g_strfreev);
  std::vector<std::string> result;
  for (auto p = fields.get(); p && *p; ++p) {
    std::string name = *p;
    bool remove = (name == VIPS_META_ICC_NAME && !opts_.keep_icc)
                  || (name == VIPS_META_ORIENTATION && !opts_.keep_orientation);
    for (auto whole : removed_names)
      remove = remove || name == whole;
    for (auto prefix : removed_prefixes)
      remove = remove || starts_with(name, prefix);
    if (remove)
      result.push_back(std::move(name));
  }
  return result;
}

void strip_stage::process(image& img) {
  auto names = fields_to_remove(img.pixels);
  if (names.empty())
    return;
  // A copy, so an image shared with another branch keeps its metadata.
  auto out = img.pixels.copy();
  for (auto& name : names)
    out.remove(name.c_str());
  img.pixels = out;
}

} // namespace pixline
