// What libvips' reducing gap costs: times `resize` (lanczos3) of one image
// by 1/2, 1/3, 1/4, 1/8 and 1/16 with gap 0 (the kernel alone) and gap 2
// (libvips' default: a box shrink by a whole factor first), one thread,
// the input in memory, the output materialised, CPU milliseconds per call,
// in two rounds that alternate the two gaps.
//
//   resize-gap IMAGE [CALLS]      (CALLS per measurement, default 10)
//
// bench/HISTORY.md quotes a run of this on a 1600x1600 W2 image; the
// `gap` option of pixline's `resize` stage documents the result. Built
// with pixline (target pixline_resize_gap, build/bench/resize-gap); not
// part of the pixline library.
#include <vips/vips8>

#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace {

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s IMAGE [CALLS]\n", argv[0]);
    return 2;
  }
  if (VIPS_INIT(argv[0])) vips_error_exit(nullptr);
  vips_concurrency_set(1);
  vips_cache_set_max(0);
  int calls = argc == 3 ? std::atoi(argv[2]) : 10;
  if (calls < 1) calls = 1;
  auto in = vips::VImage::new_from_file(argv[1]).copy_memory();
  std::printf("%dx%d, %d bands; CPU ms per resize, lanczos3\n", in.width(), in.height(),
              in.bands());
  std::printf("%-8s %-6s %10s %10s\n", "factor", "gap", "round 1", "round 2");
  const double factors[] = {2, 3, 4, 8, 16};
  const double gaps[] = {0.0, 2.0};
  double ms[2][5][2] = {};
  for (int round = 0; round < 2; ++round)
    for (int f = 0; f < 5; ++f)
      for (int g = 0; g < 2; ++g) {
        double t0 = cpu_seconds();
        for (int i = 0; i < calls; ++i) {
          auto out = in.resize(1.0 / factors[f], vips::VImage::option()
                                                   ->set("kernel", VIPS_KERNEL_LANCZOS3)
                                                   ->set("gap", gaps[g]));
          std::size_t length = 0;
          g_free(out.write_to_memory(&length));
        }
        ms[round][f][g] = (cpu_seconds() - t0) / calls * 1000;
      }
  for (int f = 0; f < 5; ++f)
    for (int g = 0; g < 2; ++g)
      std::printf("1/%-6g %-6g %10.1f %10.1f\n", factors[f], gaps[g], ms[0][f][g], ms[1][f][g]);
  vips_shutdown();
  return 0;
}
