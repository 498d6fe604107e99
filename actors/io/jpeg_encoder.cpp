#include "actors/io/jpeg_encoder.hpp"

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <vector>

// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>
#include <jerror.h>

namespace pixline {

namespace {

/// libjpeg reports a fatal error by calling error_exit, which must not
/// return: it jumps back to the setjmp in compress() with the message.
struct error_manager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<error_manager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// libjpeg's warnings (corrupt data while decoding) do not arise when
// encoding; libvips' saver drops them as well.
void on_message(j_common_ptr) {
}

/// A growing malloc'd buffer for the encoded file. libjpeg's own
/// jpeg_mem_dest reports its buffer only when the file is finished, so after
/// a failure the caller could not free it.
struct memory_destination {
  jpeg_destination_mgr pub;
  unsigned char* data;
  std::size_t capacity;
  std::size_t size;
};

void grow(j_compress_ptr cinfo, std::size_t capacity) {
  auto* dest = reinterpret_cast<memory_destination*>(cinfo->dest);
  auto* data = static_cast<unsigned char*>(std::realloc(dest->data, capacity));
  if (!data)
    ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 0);
  std::size_t used = dest->capacity - dest->pub.free_in_buffer;
  dest->data = data;
  dest->capacity = capacity;
  dest->pub.next_output_byte = data + used;
  dest->pub.free_in_buffer = capacity - used;
}

void init_destination(j_compress_ptr cinfo) {
  grow(cinfo, 16 * 1024);
}

boolean empty_output_buffer(j_compress_ptr cinfo) {
  // Called when the whole buffer is full, whatever next_output_byte and
  // free_in_buffer say: libjpeg's Huffman encoder keeps its own copies.
  auto* dest = reinterpret_cast<memory_destination*>(cinfo->dest);
  dest->pub.free_in_buffer = 0;
  grow(cinfo, dest->capacity * 2);
  return TRUE;
}

void term_destination(j_compress_ptr cinfo) {
  auto* dest = reinterpret_cast<memory_destination*>(cinfo->dest);
  dest->size = dest->capacity - dest->pub.free_in_buffer;
}

/// What compress() works on; plain data only, since compress() returns
/// through longjmp.
struct compress_state {
  VipsImage* image;
  VipsRegion* region;
  const jpeg_settings* settings;
  const std::function<void()>* between_strips;
  JSAMPROW* rows;
  int strip_height;
  memory_destination* dest;
};

enum class outcome { done, vips_failed, jpeg_failed };

// jpeg_compress_struct and the error manager live in the caller, so no
// object with a destructor is skipped by the longjmp. The settings are
// applied in the order libvips' write_vips() applies them, so that the
// output is the same file.
outcome compress(compress_state& w, jpeg_compress_struct& cinfo, error_manager& err) {
  if (setjmp(err.jump))
    return outcome::jpeg_failed;
  jpeg_create_compress(&cinfo);
  cinfo.dest = &w.dest->pub;
  int width = w.image->Xsize;
  int height = w.image->Ysize;
  int bands = w.image->Bands;
  cinfo.image_width = JDIMENSION(width);
  cinfo.image_height = JDIMENSION(height);
  cinfo.input_components = bands;
  cinfo.in_color_space = bands == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&cinfo);
  cinfo.optimize_coding = w.settings->optimize ? TRUE : FALSE;
  jpeg_set_quality(&cinfo, w.settings->quality, TRUE);
  if (w.settings->progressive)
    jpeg_simple_progression(&cinfo);
  bool subsample
    = w.settings->subsample == VIPS_FOREIGN_SUBSAMPLE_ON
      || (w.settings->subsample == VIPS_FOREIGN_SUBSAMPLE_AUTO
          && w.settings->quality < 90);
  if (!subsample)
    for (int i = 0; i < bands; ++i) {
      cinfo.comp_info[i].h_samp_factor = 1;
      cinfo.comp_info[i].v_samp_factor = 1;
    }
  // As libvips with strip: no JFIF (APP0) marker, no metadata.
  cinfo.write_JFIF_header = FALSE;
  jpeg_start_compress(&cinfo, TRUE);
  for (int top = 0; top < height; top += w.strip_height) {
    VipsRect strip{0, top, width, std::min(w.strip_height, height - top)};
    if (vips_region_prepare(w.region, &strip))
      return outcome::vips_failed;
    for (int y = 0; y < strip.height; ++y)
      w.rows[y] = VIPS_REGION_ADDR(w.region, 0, top + y);
    JDIMENSION written = 0;
    while (written < JDIMENSION(strip.height))
      written += jpeg_write_scanlines(&cinfo, w.rows + written,
                                      JDIMENSION(strip.height) - written);
    if (*w.between_strips)
      (*w.between_strips)();
  }
  jpeg_finish_compress(&cinfo);
  return outcome::done;
}

} // namespace

bool jpeg_encodable_here(const vips::VImage& img) {
  VipsImage* im = img.get_image();
  if (im->BandFmt != VIPS_FORMAT_UCHAR || im->Coding != VIPS_CODING_NONE)
    return false;
  bool colour = im->Bands == 3 && im->Type == VIPS_INTERPRETATION_sRGB;
  bool grey = im->Bands == 1 && im->Type == VIPS_INTERPRETATION_B_W;
  return (colour || grey)
         && std::int64_t(im->Xsize) * im->Ysize <= jpeg_here_max_pixels;
}

std::pair<jpeg_bytes, std::size_t>
encode_jpeg_here(const vips::VImage& img, const jpeg_settings& settings,
                 const std::function<void()>& between_strips) {
  VipsImage* im = img.get_image();
  if (vips_image_pio_input(im))
    throw vips::VError();
  // The rows libvips' own sink would compute at a time for this image.
  int tile_width = 0, tile_height = 0, lines = 0;
  vips_get_tile_size(im, &tile_width, &tile_height, &lines);
  int strip_height = std::clamp(lines, 1, std::max(1, im->Ysize));
  std::vector<JSAMPROW> rows(std::size_t(strip_height), nullptr);
  VipsRegion* region = vips_region_new(im);
  if (!region)
    throw vips::VError();
  memory_destination dest{};
  dest.pub.init_destination = init_destination;
  dest.pub.empty_output_buffer = empty_output_buffer;
  dest.pub.term_destination = term_destination;
  compress_state w{im,          region,       &settings, &between_strips,
                   rows.data(), strip_height, &dest};
  jpeg_compress_struct cinfo{};
  error_manager err{};
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.output_message = on_message;
  auto result = compress(w, cinfo, err);
  jpeg_destroy_compress(&cinfo);
  g_object_unref(region);
  jpeg_bytes bytes(dest.data, std::free);
  if (result == outcome::jpeg_failed)
    vips_error("jpegsave", "%s", err.message);
  if (result != outcome::done)
    throw vips::VError();
  return {std::move(bytes), dest.size};
}

} // namespace pixline
