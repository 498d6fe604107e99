#include "actors/io/png_decoder.hpp"

#include <csetjmp>
#include <cstddef>
#include <cstring>
#include <vector>

#include <png.h>

#include "actors/io/decoded_image.hpp"

namespace pixline {

namespace {

enum class outcome { done, unsuitable, failed };

/// What decompress() works on; plain data only, since decompress() returns
/// through longjmp. It lives in decode_png_here's frame, and decompress()
/// (which calls setjmp) is never inlined there, so what decompress() stored
/// in it before a longjmp is in memory when it returns.
struct decode_state {
  const unsigned char* data;
  std::size_t size;
  std::size_t offset;
  VipsImage* out; // the header's fields; its pixels allocated here
  png_bytep* rows; // an interlaced image's row pointers
};

/// libpng reports an error by calling this, which must not return.
void on_error(png_structp png, png_const_charp) {
  std::longjmp(png_jmpbuf(png), 1);
}

/// A warning ends the decode as an error does, at once: the file goes to
/// libvips, which prints the warning and applies `fail_on`.
void on_warning(png_structp png, png_const_charp) {
  std::longjmp(png_jmpbuf(png), 1);
}

void read_bytes(png_structp png, png_bytep to, png_size_t length) {
  auto* s = static_cast<decode_state*>(png_get_io_ptr(png));
  if (length > s->size - s->offset)
    png_error(png, "not enough data");
  std::memcpy(to, s->data + s->offset, length);
  s->offset += length;
}

__attribute__((noinline)) outcome decompress(decode_state& s, png_structp png,
                                             png_infop info) {
  if (setjmp(png_jmpbuf(png)))
    return outcome::failed;
  // libvips' read_new(): the same options and limits.
#ifdef PNG_SKIP_sRGB_CHECK_PROFILE
  png_set_option(png, PNG_SKIP_sRGB_CHECK_PROFILE, PNG_OPTION_ON);
#endif
#ifdef PNG_IGNORE_ADLER32
  png_set_option(png, PNG_IGNORE_ADLER32, PNG_OPTION_ON);
#endif
  png_set_user_limits(png, VIPS_MAX_COORD, VIPS_MAX_COORD);
  png_set_read_fn(png, &s, read_bytes);
  png_set_chunk_malloc_max(png, 50 * 1024 * 1024);
  png_set_chunk_cache_max(png, 100);
  png_read_info(png, info);
  // libvips' png2vips_header(): the same transformations.
  png_uint_32 width = 0;
  png_uint_32 height = 0;
  int bit_depth = 0;
  int colour_type = 0;
  int interlace_type = 0;
  png_get_IHDR(png, info, &width, &height, &bit_depth, &colour_type,
               &interlace_type, nullptr, nullptr);
  if (int(width) != s.out->Xsize || int(height) != s.out->Ysize)
    return outcome::unsuitable;
  if (colour_type == PNG_COLOR_TYPE_PALETTE)
    png_set_palette_to_rgb(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS))
    png_set_tRNS_to_alpha(png);
  if (colour_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8)
    png_set_expand_gray_1_2_4_to_8(png);
  if (bit_depth > 8 && !vips_amiMSBfirst())
    png_set_swap(png);
  (void)png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != VIPS_IMAGE_SIZEOF_LINE(s.out))
    return outcome::unsuitable;
  if (vips_image_write_prepare(s.out)) {
    vips_error_clear();
    return outcome::failed;
  }
  if (interlace_type != PNG_INTERLACE_NONE) {
    // As libvips' png2vips_interlace(): the whole image at once.
    for (int y = 0; y < s.out->Ysize; ++y)
      s.rows[y] = VIPS_IMAGE_ADDR(s.out, 0, y);
    png_read_image(png, s.rows);
  } else {
    for (int y = 0; y < s.out->Ysize; ++y)
      png_read_row(png, VIPS_IMAGE_ADDR(s.out, 0, y), nullptr);
  }
  // Neither libvips nor this reads past the last row (png_read_end).
  return outcome::done;
}

} // namespace

std::optional<vips::VImage> decode_png_here(const VipsBlob& bytes,
                                            const vips::VImage& header) {
  VipsImage* in = header.get_image();
  if ((in->BandFmt != VIPS_FORMAT_UCHAR && in->BandFmt != VIPS_FORMAT_USHORT)
      || in->Coding != VIPS_CODING_NONE || in->Bands < 1 || in->Bands > 4
      || std::int64_t(VIPS_IMAGE_SIZEOF_IMAGE(in)) > png_decode_here_max_bytes)
    return std::nullopt;
  auto* area = VIPS_AREA(&bytes);
  VipsImage* out = memory_image_like(in);
  if (!out)
    return std::nullopt;
  std::vector<png_bytep> rows(std::size_t(in->Ysize));
  decode_state s{static_cast<const unsigned char*>(area->data),
                 std::size_t(area->length), 0, out, rows.data()};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr,
                                           on_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  auto result = info ? decompress(s, png, info) : outcome::failed;
  png_destroy_read_struct(png ? &png : nullptr, info ? &info : nullptr,
                          nullptr);
  if (result != outcome::done) {
    g_object_unref(out);
    return std::nullopt;
  }
  return vips::VImage(out);
}

} // namespace pixline
