// Where W2's CPU time goes in pixline: each step of the W2 pipeline
// (bench/configs/w2-fanout.toml) timed on its own, one thread, over every
// file of a folder, with pixline's own stages: `thumbnail` (1600 px wide,
// opened with its shrink-on-load as the loader does), `unsharp` (radius 1,
// amount 0.8, threshold 2), the result kept in memory, then WebP q80,
// JPEG q85 and a 400 px thumbnail at JPEG q80 (pixline's `resize`,
// lanczos3, gap 0 as in the config), each encoded to memory with libvips.
// One more row, outside the total, times the thumbnail with libvips'
// default gap (2: a box shrink by 2 before lanczos3).
//
//   w2-breakdown INPUT_DIR
//
// Prints CPU seconds per image for each step. Compare with
// bench/competitors/pillow_w2_breakdown.py on the same folder. Built with
// pixline (target pixline_w2_breakdown, build/bench/w2-breakdown); not part
// of the pixline library.
#include <vips/vips8>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/registry.hpp"
#include "pipeline/stage.hpp"

namespace {

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

void drop(VipsBlob* blob) {
  vips_area_unref(reinterpret_cast<VipsArea*>(blob));
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s INPUT_DIR\n", argv[0]);
    return 2;
  }
  if (VIPS_INIT(argv[0])) vips_error_exit(nullptr);
  vips_concurrency_set(1);
  vips_cache_set_max(0);
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(argv[1]))
    if (e.is_regular_file()) files.push_back(e.path().string());

  constexpr int steps_n = 5;
  const char* names[] = {"decode + thumbnail 1600", "unsharp", "WebP q80", "JPEG q85",
                         "400 px + JPEG q80", "(400 px, gap 2 + JPEG)"};
  auto registry = pixline::builtin_registry();
  auto thumbnail = registry.find("thumbnail")->make(
    {{"width", std::int64_t{1600}}, {"height", std::int64_t{100000}}});
  auto unsharp = registry.find("unsharp")->make(
    {{"radius", 1.0}, {"amount", 0.8}, {"threshold", 2.0}});
  auto thumb_400 = [&](double gap) {
    return registry.find("resize")->make(
      {{"width", std::int64_t{400}}, {"kernel", std::string{"lanczos3"}}, {"gap", gap}});
  };
  auto gap0 = thumb_400(0.0);
  auto gap2 = thumb_400(2.0);
  auto thumbnail_jpeg = [](pixline::stage& resize, const vips::VImage& from) {
    pixline::image small;
    small.pixels = from;
    resize.process(small);
    drop(small.pixels.jpegsave_buffer(vips::VImage::option()->set("Q", 80)->set("strip", true)));
  };
  pixline::load_params params;
  double total[steps_n + 1] = {};
  for (const auto& f : files) {
    double t0 = cpu_seconds();
    auto header = vips::VImage::new_from_file(f.c_str());
    pixline::image img;
    img.pixels = thumbnail->load_fused(f, header, params)->copy_memory();
    double t1 = cpu_seconds();
    unsharp->process(img);
    auto sharp = img.pixels.copy_memory();
    double t2 = cpu_seconds();
    drop(sharp.webpsave_buffer(vips::VImage::option()->set("Q", 80)->set("strip", true)));
    double t3 = cpu_seconds();
    drop(sharp.jpegsave_buffer(vips::VImage::option()->set("Q", 85)->set("strip", true)));
    double t4 = cpu_seconds();
    thumbnail_jpeg(*gap0, sharp);
    double t5 = cpu_seconds();
    thumbnail_jpeg(*gap2, sharp);
    double t6 = cpu_seconds();
    double steps[steps_n + 1] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5};
    for (int i = 0; i <= steps_n; ++i) total[i] += steps[i];
  }
  double all = 0;
  std::printf("pixline stages, libvips encoders, %zu images, CPU seconds per image:\n", files.size());
  for (int i = 0; i < steps_n; ++i) {
    std::printf("  %-24s %.3f\n", names[i], total[i] / double(files.size()));
    all += total[i];
  }
  std::printf("  %-24s %.3f\n", "total", all / double(files.size()));
  std::printf("  %-24s %.3f\n", names[steps_n], total[steps_n] / double(files.size()));
  vips_shutdown();
  return 0;
}
