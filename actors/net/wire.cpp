#include "actors/net/wire.hpp"

#include <stdexcept>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include <cstring>
#include <memory>
#include <set>

#include <fmt/format.h>

#include <glib.h>

namespace pixline {

namespace {

/// Header fields carried by wire_image's own members (or meaningless on the
/// other side).
bool is_header_field(const char* name) {
  static const std::set<std::string> header = {
    "width", "height", "bands",   "format",  "coding", "interpretation",
    "xoffset", "yoffset", "xres", "yres", "filename"};
  return header.count(name) > 0;
}

void copy_metadata(VipsImage* im, std::vector<wire_field>& out) {
  std::unique_ptr<gchar*, decltype(&g_strfreev)> names(
    vips_image_get_fields(im), &g_strfreev);
  for (auto p = names.get(); p && *p; ++p) {
    const char* name = *p;
    if (is_header_field(name))
      continue;
    wire_field f;
    f.name = name;
    auto type = vips_image_get_typeof(im, name);
    if (type == G_TYPE_INT) {
      int v = 0;
      if (vips_image_get_int(im, name, &v) != 0)
        continue;
      f.kind = wire_field::integer;
      f.i = v;
    } else if (type == G_TYPE_DOUBLE) {
      f.kind = wire_field::number;
      if (vips_image_get_double(im, name, &f.d) != 0)
        continue;
    } else if (type == VIPS_TYPE_REF_STRING || type == G_TYPE_STRING) {
      const char* v = nullptr;
      if (vips_image_get_string(im, name, &v) != 0 || !v)
        continue;
      f.kind = wire_field::text;
      f.s = v;
    } else if (type == VIPS_TYPE_BLOB) {
      const void* data = nullptr;
      size_t len = 0;
      if (vips_image_get_blob(im, name, &data, &len) != 0)
        continue;
      f.kind = wire_field::blob;
      f.s.assign(static_cast<const char*>(data), len);
    } else if (type == VIPS_TYPE_ARRAY_INT) {
      int* v = nullptr;
      int n = 0;
      if (vips_image_get_array_int(im, name, &v, &n) != 0)
        continue;
      f.kind = wire_field::integers;
      f.ints.assign(v, v + n);
    } else {
      // Other types (images, areas of other things) have no meaning for
      // the stages and writers pixline runs; they stay behind.
      continue;
    }
    out.push_back(std::move(f));
  }
  vips_error_clear();
}

} // namespace

namespace {

/// True when PNG holds `img`'s pixels exactly.
bool png_can_hold(const vips::VImage& img) {
  return (img.format() == VIPS_FORMAT_UCHAR
          || img.format() == VIPS_FORMAT_USHORT)
         && img.bands() >= 1 && img.bands() <= 4;
}

/// `img` as a PNG file of exactly its pixel values: the interpretation is
/// set to what PNG stores as is, so the saver converts nothing (the real
/// one travels in the header).
std::vector<std::uint8_t> png_of(const vips::VImage& img) {
  bool wide = img.format() == VIPS_FORMAT_USHORT;
  auto as = img.bands() <= 2 ? (wide ? VIPS_INTERPRETATION_GREY16
                                     : VIPS_INTERPRETATION_B_W)
                             : (wide ? VIPS_INTERPRETATION_RGB16
                                     : VIPS_INTERPRETATION_sRGB);
  auto plain = img.copy(vips::VImage::option()->set("interpretation", as));
  void* buf = nullptr;
  size_t size = 0;
  plain.write_to_buffer(".png", &buf, &size,
                        vips::VImage::option()
                          ->set("compression", 1)
                          ->set("strip", true)
                          ->set("bitdepth", wide ? 16 : 8));
  std::unique_ptr<void, decltype(&g_free)> owned(buf, &g_free);
  auto bytes = static_cast<const std::uint8_t*>(buf);
  return {bytes, bytes + size};
}

} // namespace

wire_image to_wire(const vips::VImage& img, const std::string& input_format,
                   const std::string& encoding) {
  vips::VImage plain = img;
  if (plain.get_image()->Coding != VIPS_CODING_NONE) {
    VipsImage* decoded = nullptr;
    if (vips_image_decode(plain.get_image(), &decoded) != 0)
      throw vips::VError();
    plain = vips::VImage(decoded);
  }
  wire_image w;
  if (encoding == "png" && png_can_hold(plain)) {
    w.pixels = png_of(plain);
    w.encoding = "png";
  } else {
    size_t size = 0;
    std::unique_ptr<void, decltype(&g_free)> data(
      plain.write_to_memory(&size), &g_free);
    auto bytes = static_cast<const std::uint8_t*>(data.get());
    w.pixels.assign(bytes, bytes + size);
  }
  w.width = plain.width();
  w.height = plain.height();
  w.bands = plain.bands();
  w.format = std::int32_t(plain.format());
  w.interpretation = std::int32_t(plain.interpretation());
  w.xres = plain.xres();
  w.yres = plain.yres();
  w.input_format = input_format;
  copy_metadata(plain.get_image(), w.fields);
  return w;
}

vips::VImage from_wire(const wire_image& w) {
  if (w.width <= 0 || w.height <= 0 || w.bands <= 0 || w.format < 0
      || w.format >= VIPS_FORMAT_LAST)
    throw stage_error("malformed image message (bad header)");
  vips::VImage result;
  if (w.encoding == "png") {
    result = vips::VImage::new_from_buffer(w.pixels.data(), w.pixels.size(),
                                           "")
               .copy_memory();
    if (result.width() != w.width || result.height() != w.height
        || result.bands() != w.bands || result.format() != w.format)
      throw stage_error("malformed image message (its PNG does not match "
                        "its header)");
  } else if (!w.encoding.empty()) {
    throw stage_error(fmt::format("image message in an unknown encoding "
                                  "'{}'",
                                  w.encoding));
  } else {
    auto expected = std::uint64_t(w.width) * std::uint64_t(w.height)
                    * std::uint64_t(w.bands)
                    * vips_format_sizeof(VipsBandFormat(w.format));
    if (expected != w.pixels.size())
      throw stage_error("malformed image message (size does not match its "
                        "header)");
    auto im = vips_image_new_from_memory_copy(
      w.pixels.data(), w.pixels.size(), w.width, w.height, w.bands,
      VipsBandFormat(w.format));
    if (!im)
      throw vips::VError();
    result = vips::VImage(im);
  }
  result = result.copy(vips::VImage::option()
                         ->set("interpretation", w.interpretation)
                         ->set("xres", w.xres)
                         ->set("yres", w.yres));
  auto raw = result.get_image();
  // Blobs first: setting "exif-data" makes libvips parse it into
  // "orientation" and "exif-ifd..." fields, which may be stale (autorotate
  // removes "orientation" but leaves the blob); the fields the message
  // carries are set after, and parsed ones it does not carry are removed,
  // so the image has exactly the metadata it had before the trip.
  for (auto& f : w.fields)
    if (f.kind == wire_field::blob)
      vips_image_set_blob_copy(raw, f.name.c_str(), f.s.data(), f.s.size());
  std::set<std::string> carried;
  for (auto& f : w.fields) {
    carried.insert(f.name);
    switch (f.kind) {
      case wire_field::integer:
        vips_image_set_int(raw, f.name.c_str(), int(f.i));
        break;
      case wire_field::number:
        vips_image_set_double(raw, f.name.c_str(), f.d);
        break;
      case wire_field::text:
        vips_image_set_string(raw, f.name.c_str(), f.s.c_str());
        break;
      case wire_field::integers:
        vips_image_set_array_int(raw, f.name.c_str(), f.ints.data(),
                                 int(f.ints.size()));
        break;
      default:
        break;
    }
  }
  std::unique_ptr<gchar*, decltype(&g_strfreev)> names(
    vips_image_get_fields(raw), &g_strfreev);
  for (auto p = names.get(); p && *p; ++p)
    if (!is_header_field(*p) && !carried.count(*p))
      vips_image_remove(raw, *p);
  return result;
}

namespace {

template <class T>
std::vector<char> to_bytes(const T& x) {
  std::vector<char> buf;
  caf::binary_serializer sink{static_cast<caf::execution_unit*>(nullptr), buf};
  if (auto err = sink(const_cast<T&>(x)))
    throw std::runtime_error("cannot serialize a message for a worker process");
  return buf;
}

template <class T>
void from_bytes(const unsigned char* data, std::size_t size, T& x) {
  caf::binary_deserializer source{static_cast<caf::execution_unit*>(nullptr),
                                  reinterpret_cast<const char*>(data), size};
  if (auto err = source(x))
    throw std::runtime_error("a worker process sent a malformed message");
}

} // namespace

std::vector<char> serialized(const wire_job& x) {
  return to_bytes(x);
}

std::vector<char> serialized(const wire_result& x) {
  return to_bytes(x);
}

void deserialize(const unsigned char* data, std::size_t size, wire_job& x) {
  from_bytes(data, size, x);
}

void deserialize(const unsigned char* data, std::size_t size, wire_result& x) {
  from_bytes(data, size, x);
}

} // namespace pixline
