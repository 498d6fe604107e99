#include <catch2/catch.hpp>

#include <malloc.h>
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

} // namespace

TEST_CASE("malloc_arenas: one arena per 8 hardware threads, at least one",
          "[memory]") {
  CHECK(malloc_arenas(0) == 1); // hardware_concurrency() may not know
  CHECK(malloc_arenas(1) == 1);
  CHECK(malloc_arenas(2) == 1);
  CHECK(malloc_arenas(15) == 1);
  CHECK(malloc_arenas(16) == 2);
  CHECK(malloc_arenas(64) == 8);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// The sanitizers replace malloc; there is no glibc heap to trim.
#else
TEST_CASE("memory_trimmer hands free heap pages back to the kernel",
          "[memory]") {
  // pixline's settings: blocks of 1 MiB stay in the heap, and glibc does
  // not trim it by itself.
  REQUIRE(mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024) == 1);
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
