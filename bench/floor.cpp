// The floors for workload W1: what libvips alone does, with no actors,
// no worker processes and no protocol.
//
//   floor INPUT_DIR OUTPUT_DIR [THREADS]
//
// N threads (default: hardware threads) each take the next file from one
// atomic index and, in the default mode, make a 256x256-box thumbnail
// turned upright from its EXIF orientation and write OUTPUT_DIR/STEM.jpg at
// Q80 with metadata stripped. JPEGs are shrunk on load the way pixline's
// thumbnail stage does it by default (fast_shrink_on_load): libjpeg decodes
// at the smallest scale, 1/2, 1/4 or 1/8, that is still at least 256 px.
// libvips' own threading is 1 per image and its operation cache is off, as
// in pixline. Files are written directly (no temporary file, no fsync).
//
// FLOOR_RESIZE picks the resize after that shrink:
//   libvips  (default) libvips' thumbnail_image, as a minimal libvips
//            program would; everything but a JPEG goes through
//            VImage::thumbnail (libvips' shrink-on-load, WebP included).
//   pixline  pixline's own resize (actors/filters/resample.cpp, compiled
//            in: the same kernels and the same pixels as pixline's
//            thumbnail stage), for JPEGs, still WebPs and PNGs. A JPEG of
//            up to 1 MP at its DCT scale, a still WebP at libvips' scale
//            on load and a PNG of up to 4 MiB decoded are read into memory
//            and decoded whole by pixline's decoders
//            (actors/io/{jpeg,png,webp}_decoder.cpp, compiled in), as
//            pixline's loader does. The pair pixline / this floor then
//            differs by orchestration only.
// FLOOR_MODE=decode: the decode floor, no resize and no encode. JPEGs are
// decoded by libjpeg-turbo directly at the DCT scale above, scanlines
// thrown away; still WebPs by libwebp directly (pixline's decoder) at
// libvips' scale on load, PNGs by libpng directly (pixline's decoder, up
// to its size limit); other files are decoded by libvips as pixline's
// loader opens them, their pixels summed (vips_avg) so that every one is
// computed. No output is written.
// FLOOR_SHRINK=libvips: libvips' own choice of shrink-on-load for every
// file (VImage::thumbnail). FLOOR_LOADER=direct: a file starting with a
// JPEG signature is opened with jpegload directly rather than through
// libvips' format search.
//
// Built by bench/run.sh:
//   g++ -O3 -std=c++20 -I. bench/floor.cpp actors/filters/resample.cpp
//     actors/io/jpeg_decoder.cpp actors/io/png_decoder.cpp
//     actors/io/webp_decoder.cpp -o floor
//     $(pkg-config --cflags --libs vips-cpp libpng16 libwebp libwebpdemux)
//     -ljpeg -lfmt -pthread
// Not part of the pixline library.
#include <vips/vips8>

#include <jpeglib.h>
#include <csetjmp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "actors/filters/resample.hpp"
#include "actors/io/jpeg_decoder.hpp"
#include "actors/io/png_decoder.hpp"
#include "actors/io/webp_decoder.hpp"

namespace fs = std::filesystem;

namespace {

/// The DCT scale pixline's thumbnail stage picks for a 256 px box:
/// the largest of 8, 4, 2 that keeps both sides at least the target.
int dct_scale(int width, int height) {
  double long_edge = std::max(width, height);
  double target_w = width * 256.0 / long_edge, target_h = height * 256.0 / long_edge;
  double shrink = std::min(width / target_w, height / target_h);
  for (int n : {8, 4, 2})
    if (n <= shrink) return n;
  return 1;
}

/// The scale libvips' thumbnail (and pixline's) decodes a WebP at for a
/// 256 px box: the larger of the two axes' scales, at most 1.
double webp_scale(int width, int height) {
  double long_edge = std::max(width, height);
  double target_w = std::max(1L, std::lround(width * 256.0 / long_edge));
  double target_h = std::max(1L, std::lround(height * 256.0 / long_edge));
  return 1.0 / std::max(1.0, std::min(width / target_w, height / target_h));
}

/// The whole file in a libvips blob, as pixline's loader reads it.
struct file_blob {
  VipsBlob* blob;
  explicit file_blob(const char* file) {
    std::ifstream in(file, std::ios::binary);
    std::string bytes{std::istreambuf_iterator<char>(in), {}};
    blob = vips_blob_copy(bytes.data(), bytes.size());
  }
  ~file_blob() { vips_area_unref(VIPS_AREA(blob)); }
  file_blob(const file_blob&) = delete;
  file_blob& operator=(const file_blob&) = delete;
};

struct jpeg_failure {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
};

/// Decodes a JPEG with libjpeg-turbo at pixline's DCT scale, scanlines
/// thrown away. False when libjpeg fails.
bool decode_jpeg(const char* file) {
  FILE* f = std::fopen(file, "rb");
  if (!f) return false;
  jpeg_decompress_struct cinfo;
  jpeg_failure err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = [](j_common_ptr c) {
    std::longjmp(reinterpret_cast<jpeg_failure*>(c->err)->jump, 1);
  };
  std::vector<unsigned char> row;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    std::fclose(f);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_stdio_src(&cinfo, f);
  jpeg_read_header(&cinfo, TRUE);
  cinfo.scale_num = 1;
  cinfo.scale_denom = unsigned(dct_scale(int(cinfo.image_width), int(cinfo.image_height)));
  jpeg_start_decompress(&cinfo);
  row.resize(std::size_t(cinfo.output_width) * std::size_t(cinfo.output_components));
  JSAMPROW rows[1] = {row.data()};
  while (cinfo.output_scanline < cinfo.output_height) jpeg_read_scanlines(&cinfo, rows, 1);
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  std::fclose(f);
  return true;
}

/// pixline's thumbnail resize (thumbnail_stage::resize_upright) to a 256 px
/// box for an image of `orig_w` x `orig_h` (as stored) already shrunk on
/// load: sRGB, premultiplied when it has alpha, resize_image with lanczos3
/// and gap 2, then turned upright.
vips::VImage pixline_resize(const vips::VImage& loaded, int orig_w, int orig_h, int orientation) {
  auto in = loaded.sequential(vips::VImage::option()->set("tile_height", 16));
  auto space = [](const vips::VImage& x) {
    return x.colourspace(x.bands() < 3 ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB);
  };
  in = space(in);
  // The planned size from the file's own size, as pixline's plan().
  double shrink = std::max(orig_w, orig_h) / 256.0;
  int tw = std::max(1, int(std::lround(orig_w / shrink)));
  int th = std::max(1, int(std::lround(orig_h / shrink)));
  double hshrink = std::min(double(in.width()) / tw, double(in.width()));
  double vshrink = std::min(double(in.height()) / th, double(in.height()));
  auto format = in.format();
  bool premultiply = in.has_alpha() && hshrink != 1.0 && vshrink != 1.0;
  if (premultiply) in = pixline::premultiply_image(in);
  in = pixline::resize_image(in, 1.0 / hshrink, 1.0 / vshrink, VIPS_KERNEL_LANCZOS3, 2.0);
  if (premultiply) in = in.unpremultiply().cast(format);
  in = space(in);
  if (orientation != 1) in = in.copy_memory().autorot();
  return in;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s INPUT_DIR OUTPUT_DIR [THREADS]\n", argv[0]);
    return 2;
  }
  if (VIPS_INIT(argv[0])) vips_error_exit(nullptr);
  vips_concurrency_set(1);
  vips_cache_set_max(0);

  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(argv[1]))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.')
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  const fs::path out_dir = argv[2];
  fs::create_directories(out_dir);

  unsigned threads = argc > 3 ? std::stoul(argv[3]) : std::thread::hardware_concurrency();
  if (threads == 0) threads = 1;

  const char* shrink_mode = std::getenv("FLOOR_SHRINK");
  const bool fast = !(shrink_mode && std::strcmp(shrink_mode, "libvips") == 0);
  const char* loader_mode = std::getenv("FLOOR_LOADER");
  const bool direct = loader_mode && std::strcmp(loader_mode, "direct") == 0;
  auto is_jpeg = [](const char* file) {
    unsigned char b[2] = {0, 0};
    if (FILE* f = std::fopen(file, "rb")) {
      if (std::fread(b, 1, 2, f) != 2) b[0] = 0;
      std::fclose(f);
    }
    return b[0] == 0xFF && b[1] == 0xD8;
  };
  auto open = [direct, is_jpeg](const char* file, vips::VOption* options) {
    if (direct && is_jpeg(file)) return vips::VImage::jpegload(file, options);
    return vips::VImage::new_from_file(file, options);
  };
  const char* resize_mode = std::getenv("FLOOR_RESIZE");
  const bool ours = resize_mode && std::strcmp(resize_mode, "pixline") == 0;
  const char* floor_mode = std::getenv("FLOOR_MODE");
  const bool decode_only = floor_mode && std::strcmp(floor_mode, "decode") == 0;
  auto loader_of = [](const vips::VImage& header) -> std::string {
    return header.get_typeof("vips-loader") ? header.get_string("vips-loader") : "";
  };
  auto thumbnail = [fast, ours, open, loader_of](const char* file) {
    if (fast) {
      auto header = open(file, vips::VImage::option());
      auto loader = loader_of(header);
      int orientation = vips_image_get_orientation(header.get_image());
      if (loader.rfind("jpegload", 0) == 0) {
        int n = dct_scale(header.width(), header.height());
        if (ours) {
          // As pixline's loader: the file in memory, decoded whole when small.
          auto here = pixline::decode_jpeg_here(*file_blob(file).blob, header, n);
          return pixline_resize(
            here ? *here
                 : open(file, vips::VImage::option()->set("shrink", n)->set("access", VIPS_ACCESS_SEQUENTIAL)),
            header.width(), header.height(), orientation);
        }
        if (n > 1)
          return open(file, vips::VImage::option()->set("shrink", n)->set("access", VIPS_ACCESS_SEQUENTIAL))
            .thumbnail_image(256);
      } else if (ours && loader.rfind("webpload", 0) == 0
                 && header.get_typeof(VIPS_META_N_PAGES) == 0) {
        double scale = webp_scale(header.width(), header.height());
        auto here = pixline::decode_webp_here(*file_blob(file).blob, header, scale);
        return pixline_resize(
          here ? *here
               : open(file, vips::VImage::option()->set("scale", scale)->set("access", VIPS_ACCESS_SEQUENTIAL)),
          header.width(), header.height(), orientation);
      } else if (ours && loader.rfind("pngload", 0) == 0) {
        auto here = pixline::decode_png_here(*file_blob(file).blob, header);
        return pixline_resize(
          here ? *here : open(file, vips::VImage::option()->set("access", VIPS_ACCESS_SEQUENTIAL)),
          header.width(), header.height(), orientation);
      }
    }
    return vips::VImage::thumbnail(file, 256);
  };
  // The decode floor: nothing but the decode, at the size pixline decodes.
  auto decode = [open, loader_of](const char* file) {
    auto header = open(file, vips::VImage::option());
    auto loader = loader_of(header);
    if (loader.rfind("jpegload", 0) == 0) {
      if (!decode_jpeg(file)) throw vips::VError("libjpeg failed");
      return;
    }
    auto options = vips::VImage::option()->set("access", VIPS_ACCESS_SEQUENTIAL);
    if (loader.rfind("webpload", 0) == 0) {
      double scale = webp_scale(header.width(), header.height());
      if (pixline::decode_webp_here(*file_blob(file).blob, header, scale))
        return;
      options->set("scale", scale);
    } else if (loader.rfind("pngload", 0) == 0
               && pixline::decode_png_here(*file_blob(file).blob, header)) {
      return;
    }
    static_cast<void>(open(file, options).avg());
  };

  std::atomic<size_t> next{0};
  std::atomic<int> failed{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < files.size();) {
      const auto& in = files[i];
      const auto out = (out_dir / in.stem()).string() + ".jpg";
      try {
        if (decode_only) {
          decode(in.c_str());
          continue;
        }
        auto thumb = thumbnail(in.c_str());
        thumb.jpegsave(out.c_str(), vips::VImage::option()->set("Q", 80)->set("strip", true));
      } catch (const vips::VError& e) {
        std::fprintf(stderr, "%s: %s\n", in.c_str(), e.what());
        vips_error_clear();
        ++failed;
      }
    }
    vips_thread_shutdown();
  };
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  std::printf("floor: %zu files, %d failed, %u threads, %s, %s shrink-on-load, %s\n", files.size(),
              failed.load(), threads,
              decode_only ? "decode only" : ours ? "pixline's resize" : "libvips' thumbnail_image",
              fast ? "fast" : "libvips'", direct ? "jpegload called directly" : "libvips' format search");
  vips_shutdown();
  return failed ? 1 : 0;
}
