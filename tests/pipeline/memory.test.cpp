#include <catch2/catch.hpp>

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <vector>

#include "pipeline/memory.hpp"

using namespace pixline;
using namespace std::chrono_literals;

namespace {

/// Resident memory of this process in bytes (/proc/self/statm).
long resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

/// Leaves `mib` MiB of touched, freed memory in the heap: 1 MiB blocks
/// below the mmap threshold, freed, with a live block after them so the
/// heap's top cannot shrink on its own.
std::vector<char>* leave_free_heap(int mib) {
  std::vector<void*> blocks;
  for (int i = 0; i < mib; ++i) {
    void* p = std::malloc(1 << 20);
    std::memset(p, 1, 1 << 20);
    blocks.push_back(p);
  }
  auto pin = new std::vector<char>(64, 'x');
  for (void* p : blocks)
    std::free(p);
  return pin;
}

/// Page faults of this process so far that needed no I/O (a page mapped
/// or zeroed on first touch).
long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

} // namespace

TEST_CASE("malloc_arenas: one per 4 hardware threads, at least one, unless "
          "PIXLINE_MALLOC_ARENAS says otherwise",
          "[memory]") {
  std::string error;
  CHECK(malloc_arenas(nullptr, 0, error) == 1); // hardware_concurrency() may not know
  CHECK(malloc_arenas(nullptr, 1, error) == 1);
  CHECK(malloc_arenas(nullptr, 2, error) == 1);
  CHECK(malloc_arenas(nullptr, 7, error) == 1);
  CHECK(malloc_arenas(nullptr, 8, error) == 2);
  CHECK(malloc_arenas(nullptr, 64, error) == 16);
  CHECK(malloc_arenas("1", 16, error) == 1);
  CHECK(malloc_arenas("4", 2, error) == 4);
  CHECK(malloc_arenas("1024", 2, error) == 1024);
  CHECK(error.empty());
  for (const char* bad : {"0", "", "lots", "-1", "1025", "2 ", "99999999"}) {
    std::string message;
    CAPTURE(bad);
    CHECK(malloc_arenas(bad, 8, message) == 2);
    CHECK_THAT(message,
               Catch::Contains("PIXLINE_MALLOC_ARENAS=\"" + std::string(bad)
                               + "\" is not a whole number")
                 && Catch::EndsWith("using 2 malloc arenas"));
  }
  std::string on_two_cores;
  CHECK(malloc_arenas("none", 2, on_two_cores) == 1);
  CHECK_THAT(on_two_cores, Catch::EndsWith("using 1 malloc arena"));
}

TEST_CASE("malloc_trim_mib: 64 MiB unless PIXLINE_MALLOC_TRIM_MIB says "
          "otherwise, 0 for never",
          "[memory]") {
  std::string error;
  CHECK(malloc_trim_mib(nullptr, error) == 64);
  CHECK(malloc_trim_mib("0", error) == 0);
  CHECK(malloc_trim_mib("128", error) == 128);
  CHECK(malloc_trim_mib("1048576", error) == 1048576);
  CHECK(error.empty());
  for (const char* bad : {"", "lots", "-1", "64MiB", "1048577", "99999999"}) {
    std::string message;
    CAPTURE(bad);
    CHECK(malloc_trim_mib(bad, message) == 64);
    CHECK_THAT(message,
               Catch::Contains("PIXLINE_MALLOC_TRIM_MIB=\"" + std::string(bad)
                               + "\" is not a whole number")
                 && Catch::EndsWith("heap trimming stays at 64 MiB"));
  }
}

TEST_CASE("describe says which malloc settings were made", "[memory]") {
  CHECK_THAT(describe(malloc_tuning{}), Catch::StartsWith("glibc defaults"));
  CHECK(describe(malloc_tuning{true, 1, 64})
        == "mmap threshold 32 MiB, 1 arena, heap trimmed when over 64 MiB "
           "is free (at most every 500 ms)");
  CHECK(describe(malloc_tuning{true, 4, 0})
        == "mmap threshold 32 MiB, 4 arenas, no heap trimming");
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// The sanitizers replace malloc; there is no glibc heap to trim.
#else
TEST_CASE("memory_trimmer hands free heap pages back to the kernel",
          "[memory]") {
  // pixline's settings: blocks of 1 MiB stay in the heap, and glibc does
  // not trim it by itself.
  REQUIRE(mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024) == 1);
  REQUIRE(mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024) == 1);
  auto pin = leave_free_heap(160);
  REQUIRE(mallinfo2().fordblks >= std::size_t(160) << 20);

  SECTION("not while less than the threshold is free") {
    memory_trimmer high(std::size_t(4) << 30, 0ms);
    long before = resident_bytes();
    CHECK_FALSE(high.maybe_trim());
    CHECK(resident_bytes() > before - (16l << 20));
  }
  SECTION("once more is free, and at most once per interval") {
    memory_trimmer trimmer(std::size_t(64) << 20, 1h);
    long before = resident_bytes();
    CHECK(trimmer.maybe_trim());
    CHECK(resident_bytes() < before - (128l << 20));
    auto again = leave_free_heap(160);
    CHECK_FALSE(trimmer.maybe_trim());
    delete again;
  }
  SECTION("keeping the threshold's worth of the largest free block, which "
          "the next buffers reuse without faulting its pages in again") {
    memory_trimmer trimmer(std::size_t(64) << 20, 0ms);
    // The first trim keeps nothing.
    long before = resident_bytes();
    CHECK(trimmer.maybe_trim());
    CHECK(resident_bytes() < before - (128l << 20));
    auto again = leave_free_heap(160);
    before = resident_bytes();
    CHECK(trimmer.maybe_trim());
    long after = resident_bytes();
    CHECK(after < before - (80l << 20));
    CHECK(after > before - (112l << 20));
    // 48 MiB of new buffers (below the mmap threshold, as an image's are)
    // written all over: from the kept pages, hardly a fault; from pages
    // handed back, one per page (12,288).
    long faults = minor_faults();
    std::vector<void*> blocks;
    for (int i = 0; i < 3; ++i) {
      blocks.push_back(std::malloc(16 << 20));
      std::memset(blocks.back(), 2, 16 << 20);
    }
    CHECK(minor_faults() - faults < 1000);
    for (void* p : blocks)
      std::free(p);
    // The same after trimming everything: every page is faulted in again.
    trimmer.trim_now();
    faults = minor_faults();
    for (int i = 0; i < 3; ++i) {
      blocks[i] = std::malloc(16 << 20);
      std::memset(blocks[i], 3, 16 << 20);
    }
    CHECK(minor_faults() - faults > 10000);
    for (void* p : blocks)
      std::free(p);
    delete again;
  }
  SECTION("now, whatever the threshold and the interval") {
    memory_trimmer trimmer(std::size_t(4) << 30, 1h);
    long before = resident_bytes();
    CHECK(trimmer.trim_now() >= std::size_t(160) << 20);
    CHECK(resident_bytes() < before - (128l << 20));
    auto again = leave_free_heap(160);
    before = resident_bytes();
    CHECK(trimmer.trim_now() >= std::size_t(160) << 20);
    CHECK(resident_bytes() < before - (128l << 20));
    delete again;
  }
  SECTION("a check that found too little free waits before the next") {
    // What is free now is below this threshold; 200 MiB free (the 160
    // reused and 40 more) is above it, but the heap is not looked at again
    // within a quarter of the interval.
    const std::size_t threshold = mallinfo2().fordblks + (std::size_t(20) << 20);
    memory_trimmer trimmer(threshold, 1h);
    CHECK_FALSE(trimmer.maybe_trim());
    auto again = leave_free_heap(200);
    REQUIRE(mallinfo2().fordblks > threshold);
    CHECK_FALSE(trimmer.maybe_trim());
    // An hour-long interval with no check in between: trim_now still works.
    CHECK(trimmer.trim_now() > threshold);
    delete again;
  }
  SECTION("again once the interval has passed") {
    memory_trimmer trimmer(std::size_t(64) << 20, 0ms);
    CHECK(trimmer.maybe_trim());
    auto again = leave_free_heap(160);
    CHECK(trimmer.maybe_trim());
    delete again;
  }
  delete pin;
}
#endif
