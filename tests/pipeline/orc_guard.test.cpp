#include "pipeline/orc_guard.hpp"

#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <vips/vips8>

using namespace pixline;

// Debian 12's orc frees compiled code without a lock. Each reduce below
// compiles orc programs when built and frees them when released; four
// threads doing that at once crashed within a few hundred iterations before
// the guard (the process dies, so this test cannot pass by accident).
TEST_CASE("libvips may compile and free orc code on many threads at once",
          "[pipeline][orc]") {
  auto before = orc_guarded_calls();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t] {
      for (int i = 0; i < 400; ++i) {
        auto in = vips::VImage::black(40 + t, 60 + i % 7,
                                      vips::VImage::option()->set("bands", 3))
                      .cast(VIPS_FORMAT_UCHAR);
        // Reduces of uchar images take libvips' orc path.
        auto out = in.resize(0.37);
        CHECK(out.avg() == 0.0);
      }
    });
  for (auto& thread : threads)
    thread.join();
  // Debian's libvips is built with orc: the guard must have seen its calls.
  CHECK(orc_guarded_calls() > before);
}
