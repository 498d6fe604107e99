#include "actors/io/formats/common.hpp"

namespace pixline {

vips::VOption* save_options(const save_context& context) {
  return vips::VImage::option()->set("strip", context.strip);
}

encoded_file save_to_buffer(const vips::VImage& img, const char* suffix,
                            vips::VOption* options) {
  void* buf = nullptr;
  size_t size = 0;
  img.write_to_buffer(suffix, &buf, &size, options);
  return {std::unique_ptr<void, void (*)(void*)>(buf, &g_free), size};
}

std::string shared_option_doc(const std::string& name) {
  if (name == "quality")
    return "Quality of a lossy encoding, 1 (smallest) to 100 (best)";
  if (name == "effort")
    return "CPU effort: higher is smaller and slower; each format maps it "
           "to its own range (see its table)";
  if (name == "lossless")
    return "Lossless encoding";
  if (name == "progressive")
    return "Progressive jpeg, interlaced png";
  return {};
}

} // namespace pixline
