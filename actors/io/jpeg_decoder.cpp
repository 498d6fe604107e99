#include "actors/io/jpeg_decoder.hpp"

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>

#include "actors/io/decoded_image.hpp"

namespace pixline {

namespace {

/// libjpeg reports a fatal error by calling error_exit, which must not
/// return: it jumps back to the setjmp in decompress().
struct error_manager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
};

void on_error(j_common_ptr cinfo) {
  std::longjmp(reinterpret_cast<error_manager*>(cinfo->err)->jump, 1);
}

/// A warning (corrupt data, a truncated file) ends the decode as an error
/// does, at once: the file goes to libvips, whose loader handles it by
/// `fail_on`. Trace messages (level >= 0) are ignored.
void on_message(j_common_ptr cinfo, int level) {
  if (level < 0)
    std::longjmp(reinterpret_cast<error_manager*>(cinfo->err)->jump, 1);
}

enum class outcome { done, unsuitable, failed };

/// What decompress() works on; plain data only, since decompress() returns
/// through longjmp. It lives in decode_jpeg_here's frame, and decompress()
/// (which calls setjmp) is never inlined there, so what decompress() stored
/// in it before a longjmp is in memory when it returns.
struct decode_state {
  const unsigned char* data;
  unsigned long size;
  int shrink;
  int width;  // the header's, at shrink 1
  int height;
  int bands;
  VipsImage* out; // allocated once the output size is known
  unsigned char* scratch;
};

__attribute__((noinline)) outcome decompress(decode_state& s,
                                             jpeg_decompress_struct& cinfo,
                                             error_manager& err) {
  if (setjmp(err.jump))
    return outcome::failed;
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, s.data, s.size);
  jpeg_read_header(&cinfo, TRUE);
  // libvips' read_jpeg_header: the scale, and nothing else changed from
  // libjpeg's defaults.
  cinfo.scale_num = 1;
  cinfo.scale_denom = unsigned(s.shrink);
  jpeg_calc_output_dimensions(&cinfo);
  bool colour = cinfo.out_color_space == JCS_RGB && s.bands == 3;
  bool grey = cinfo.out_color_space == JCS_GRAYSCALE && s.bands == 1;
  if ((!colour && !grey) || cinfo.output_components != s.bands
      || int(cinfo.image_width) != s.width
      || int(cinfo.image_height) != s.height)
    return outcome::unsuitable;
  // libjpeg rounds the scaled size up; libvips crops it down.
  const int width = int(cinfo.image_width) / s.shrink;
  const int height = int(cinfo.image_height) / s.shrink;
  if (width < 1 || height < 1
      || std::int64_t(cinfo.output_width) * cinfo.output_height
           > jpeg_decode_here_max_pixels)
    return outcome::unsuitable;
  s.out->Xsize = width;
  s.out->Ysize = height;
  if (vips_image_write_prepare(s.out)) {
    vips_error_clear();
    return outcome::failed;
  }
  jpeg_start_decompress(&cinfo);
  // libvips decodes libjpeg's whole (uncropped) output in strips of 8 rows
  // and crops after: the last strip's rows below the crop are decoded too,
  // so a file whose data ends there fails as it does in libvips.
  const int rows = std::min((height + 7) / 8 * 8, int(cinfo.output_height));
  const bool cropped = int(cinfo.output_width) != width;
  const std::size_t row_bytes = std::size_t(width) * std::size_t(s.bands);
  if (cropped || rows > height) {
    s.scratch = static_cast<unsigned char*>(
      std::malloc(std::size_t(cinfo.output_width) * std::size_t(s.bands)));
    if (!s.scratch)
      return outcome::failed;
  }
  for (int y = 0; y < rows; ++y) {
    const bool kept = y < height;
    JSAMPROW row
      = cropped || !kept ? s.scratch : VIPS_IMAGE_ADDR(s.out, 0, y);
    if (jpeg_read_scanlines(&cinfo, &row, 1) != 1)
      return outcome::failed;
    if (cropped && kept)
      std::memcpy(VIPS_IMAGE_ADDR(s.out, 0, y), s.scratch, row_bytes);
  }
  return outcome::done;
}

} // namespace

std::optional<vips::VImage> decode_jpeg_here(const VipsBlob& bytes,
                                             const vips::VImage& header,
                                             int shrink) {
  VipsImage* in = header.get_image();
  if (in->BandFmt != VIPS_FORMAT_UCHAR || in->Coding != VIPS_CODING_NONE
      || (in->Bands != 1 && in->Bands != 3)
      || (shrink != 1 && shrink != 2 && shrink != 4 && shrink != 8))
    return std::nullopt;
  // Cheap refusal before libjpeg is set up: libjpeg's scaled size is at
  // least the header's divided by the shrink.
  if (std::int64_t(in->Xsize / shrink) * (in->Ysize / shrink)
      > jpeg_decode_here_max_pixels)
    return std::nullopt;
  auto* area = VIPS_AREA(&bytes);
  VipsImage* out = memory_image_like(in);
  if (!out)
    return std::nullopt;
  decode_state s{static_cast<const unsigned char*>(area->data),
                 static_cast<unsigned long>(area->length),
                 shrink,
                 in->Xsize,
                 in->Ysize,
                 in->Bands,
                 out,
                 nullptr};
  jpeg_decompress_struct cinfo{};
  error_manager err{};
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  auto result = decompress(s, cinfo, err);
  // libvips does not finish the decompression either (it would only read
  // the rest of the file).
  jpeg_destroy_decompress(&cinfo);
  std::free(s.scratch);
  if (result != outcome::done) {
    g_object_unref(out);
    return std::nullopt;
  }
  return vips::VImage(out);
}

} // namespace pixline
