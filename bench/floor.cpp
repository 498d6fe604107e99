// The floor for workload W1: what libvips alone does, with no actors.
//
//   floor INPUT_DIR OUTPUT_DIR [THREADS]
//
// N threads (default: hardware threads) each take the next file from one
// atomic index, make a 256x256-box thumbnail turned upright from its EXIF
// orientation, and write OUTPUT_DIR/STEM.jpg at Q80 with metadata stripped.
// JPEGs are shrunk on load the way pixline's thumbnail stage does it by
// default (fast_shrink_on_load): libjpeg decodes at the smallest scale, 1/2,
// 1/4 or 1/8, that is still at least 256 px, then thumbnail_image resizes.
// Everything else, and every file with FLOOR_SHRINK=libvips, goes through
// VImage::thumbnail, i.e. libvips' own choice of shrink-on-load. With
// FLOOR_LOADER=direct, a file starting with a JPEG signature is opened with
// jpegload directly rather than libvips' format search (as pixline's loader
// does since 2026-12-02); by default the floor opens files as a minimal
// libvips program does, with new_from_file. libvips' own
// threading is 1 per image and its operation cache is off, as in pixline.
// Files are written directly (no temporary file, no fsync).
//
// Built by bench/run.sh:
//   g++ -O2 -std=c++20 bench/floor.cpp -o floor $(pkg-config --cflags --libs vips-cpp) -pthread
// Not part of the pixline library.
#include <vips/vips8>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

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
  auto thumbnail = [fast, open](const char* file) {
    if (fast) {
      auto header = open(file, vips::VImage::option());
      if (header.get_typeof("vips-loader")
          && std::strncmp(header.get_string("vips-loader"), "jpegload", 8) == 0) {
        double shrink = std::max(header.width(), header.height()) / 256.0;
        int n = 1;
        for (int f : {8, 4, 2})
          if (f <= shrink) { n = f; break; }
        if (n > 1)
          return open(file, vips::VImage::option()->set("shrink", n)->set("access", VIPS_ACCESS_SEQUENTIAL))
            .thumbnail_image(256);
      }
    }
    return vips::VImage::thumbnail(file, 256);
  };

  std::atomic<size_t> next{0};
  std::atomic<int> failed{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < files.size();) {
      const auto& in = files[i];
      const auto out = (out_dir / in.stem()).string() + ".jpg";
      try {
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
  std::printf("floor: %zu files, %d failed, %u threads, %s shrink-on-load, %s\n", files.size(),
              failed.load(), threads, fast ? "fast" : "libvips'",
              direct ? "jpegload called directly" : "libvips' format search");
  vips_shutdown();
  return failed ? 1 : 0;
}
