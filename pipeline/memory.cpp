#include "pipeline/memory.hpp"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace pixline {

namespace {

bool malloc_set_by_environment() {
  for (char** var = environ; var && *var; ++var)
    if (std::strncmp(*var, "MALLOC_", 7) == 0
        || std::strncmp(*var, "GLIBC_TUNABLES=", 15) == 0)
      return true;
  return false;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

/// A variable's value as a whole number: digits only, at most `most`
/// (which has at most 7 digits).
std::optional<std::size_t> whole_number_of(std::string_view text,
                                           std::size_t most) {
  if (text.empty() || text.size() > 7)
    return std::nullopt;
  std::size_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return std::nullopt;
    n = n * 10 + std::size_t(c - '0');
  }
  if (n > most)
    return std::nullopt;
  return n;
}

/// Set once by tune_malloc(), before any worker thread exists.
std::unique_ptr<memory_trimmer> process_trimmer;

/// The largest free block of any arena, in bytes, as malloc_info() reports
/// it (every bin's and the unsorted list's largest chunk is a `to="N"`); 0
/// if it cannot tell. The report is written into `report`, allocated
/// beforehand, so nothing is allocated while glibc writes it; a report
/// longer than that is cut short, and the blocks past the cut are not seen.
std::size_t largest_free_block(std::vector<char>& report) {
  std::fill(report.begin(), report.end(), '\0');
  FILE* out = fmemopen(report.data(), report.size() - 1, "w");
  if (!out)
    return 0;
  setvbuf(out, nullptr, _IONBF, 0);
  malloc_info(0, out);
  std::fclose(out);
  std::size_t largest = 0;
  std::string_view text(report.data());
  constexpr std::string_view key = " to=\"";
  for (auto at = text.find(key); at != std::string_view::npos;
       at = text.find(key, at + key.size())) {
    std::size_t n = 0;
    for (auto i = at + key.size();
         i < text.size() && text[i] >= '0' && text[i] <= '9' && n < (1ul << 50);
         ++i)
      n = n * 10 + std::size_t(text[i] - '0');
    largest = std::max(largest, n);
  }
  return largest;
}

/// malloc_trim, except for at most `keep` bytes of free memory: the
/// largest free blocks there are, and then the top of the heap. Those are
/// what the last image's big buffers (a progressive JPEG's coefficients,
/// decoded strips, an encoder's planes) left, and what the next image's big
/// buffers will be carved from: held across the trim, their pages stay
/// resident, and the next image does not fault them in again (with
/// everything trimmed, W2's progressive photographs took 3.5 times the page
/// faults of an untrimmed heap; bench/HISTORY.md). The rest, the small
/// scattered blocks, goes back to the kernel. The held blocks are not
/// touched. A block another thread took meanwhile, or one in an arena this
/// thread does not use, is not found by malloc, which maps fresh pages
/// instead (not resident either): the saving is lost, nothing else, and
/// the search stops there.
void trim_keeping(std::size_t keep) {
  // Chunk headers: a request this much smaller than the block fits in it.
  constexpr std::size_t header = 64;
  const std::size_t smallest = 16 * std::size_t(sysconf(_SC_PAGESIZE));
  std::vector<char> report(256 * 1024);
  std::vector<void*> held;
  held.reserve(16);
  std::size_t kept = 0;
  std::size_t before = 0;
  while (held.size() < 16 && kept + smallest <= keep) {
    const std::size_t largest = largest_free_block(report);
    // The block held last was a whole free block, yet the largest is as
    // large as before: it came from somewhere else.
    if (!held.empty() && largest == before)
      break;
    before = largest;
    const std::size_t block = std::min(largest, keep - kept);
    if (block < smallest)
      break;
    void* p = std::malloc(block - header);
    if (!p)
      break;
    held.push_back(p);
    kept += block;
  }
  // What is left of `keep` stays at the top of the heap.
  malloc_trim(keep - kept);
  for (void* p : held)
    std::free(p);
}

} // namespace

malloc_tuning tune_malloc() {
  if (auto choice = std::getenv("PIXLINE_MALLOC");
      choice && std::string_view{choice} == "system")
    return {};
  if (malloc_set_by_environment())
    return {};
  std::string error;
  malloc_tuning tuning;
  tuning.arenas = malloc_arenas(std::getenv("PIXLINE_MALLOC_ARENAS"),
                                std::thread::hardware_concurrency(), error);
  if (!error.empty())
    std::fprintf(stderr, "pixline: %s\n", error.c_str());
  error.clear();
  tuning.trim_mib = malloc_trim_mib(std::getenv("PIXLINE_MALLOC_TRIM_MIB"),
                                    error);
  if (!error.empty())
    std::fprintf(stderr, "pixline: %s\n", error.c_str());
  tuning.tuned = mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024) == 1
                 && mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024) == 1
                 && mallopt(M_ARENA_MAX, int(tuning.arenas)) == 1;
  if (!tuning.tuned)
    return {};
  if (tuning.trim_mib > 0)
    process_trimmer = std::make_unique<memory_trimmer>(
      tuning.trim_mib << 20, trim_interval);
  return tuning;
}

std::string describe(const malloc_tuning& tuning) {
  if (!tuning.tuned)
    return "glibc defaults (PIXLINE_MALLOC=system, or MALLOC_* or "
           "GLIBC_TUNABLES set in the environment)";
  std::string text = "mmap threshold 32 MiB, " + std::to_string(tuning.arenas)
                     + " arena" + (tuning.arenas == 1 ? "" : "s") + ", ";
  if (tuning.trim_mib == 0)
    return text + "no heap trimming";
  return text + "heap trimmed when over " + std::to_string(tuning.trim_mib)
         + " MiB is free (at most every "
         + std::to_string(trim_interval.count()) + " ms)";
}

std::size_t malloc_trim_mib(const char* setting, std::string& error) {
  if (!setting)
    return default_trim_mib;
  auto parsed = whole_number_of(setting, std::size_t(1) << 20);
  if (!parsed) {
    error = "PIXLINE_MALLOC_TRIM_MIB=\"" + std::string(setting)
            + "\" is not a whole number of MiB from 0 to 1048576; heap "
              "trimming stays at "
            + std::to_string(default_trim_mib) + " MiB";
    return default_trim_mib;
  }
  return *parsed;
}

unsigned malloc_arenas(const char* setting, unsigned hardware_threads,
                       std::string& error) {
  unsigned by_default = std::max(1u, hardware_threads / 4);
  if (!setting)
    return by_default;
  auto parsed = whole_number_of(setting, 1024);
  if (!parsed || *parsed == 0) {
    error = "PIXLINE_MALLOC_ARENAS=\"" + std::string(setting)
            + "\" is not a whole number from 1 to 1024; using "
            + std::to_string(by_default) + " malloc arena"
            + (by_default == 1 ? "" : "s");
    return by_default;
  }
  return unsigned(*parsed);
}

memory_trimmer::memory_trimmer(std::size_t above,
                               std::chrono::milliseconds every)
    : above_(above), every_(every),
      last_ms_(std::numeric_limits<std::int64_t>::min() / 2),
      checked_ms_(std::numeric_limits<std::int64_t>::min() / 2) {}

bool memory_trimmer::maybe_trim() {
  const std::int64_t now = now_ms();
  if (now - last_ms_.load(std::memory_order_relaxed) < every_.count())
    return false;
  // mallinfo2 walks every free chunk of every arena: with a heap of many
  // small free chunks that is more than a small image's share of the work,
  // so a check that found too little free is not repeated for a quarter of
  // the interval, however many images finish meanwhile.
  if (now - checked_ms_.load(std::memory_order_relaxed) < every_.count() / 4)
    return false;
  if (mallinfo2().fordblks <= above_) {
    checked_ms_.store(now, std::memory_order_relaxed);
    return false;
  }
  if (busy_.exchange(true, std::memory_order_acquire))
    return false;
  // Another thread may have trimmed between the check above and here.
  if (now_ms() - last_ms_.load(std::memory_order_relaxed) < every_.count()) {
    busy_.store(false, std::memory_order_release);
    return false;
  }
  // The first trim keeps nothing: a single large image (W3's) would leave
  // the process holding what no later image uses while the output is
  // written. From the second on, images that free this much keep coming.
  trim_keeping(trims_.fetch_add(1, std::memory_order_relaxed) > 0 ? above_
                                                                   : 0);
  last_ms_.store(now_ms(), std::memory_order_relaxed);
  busy_.store(false, std::memory_order_release);
  return true;
}

std::size_t memory_trimmer::trim_now() {
  if (busy_.exchange(true, std::memory_order_acquire))
    return 0;
  std::size_t free_bytes = mallinfo2().fordblks;
  if (free_bytes >= std::size_t(sysconf(_SC_PAGESIZE)))
    malloc_trim(0);
  last_ms_.store(now_ms(), std::memory_order_relaxed);
  busy_.store(false, std::memory_order_release);
  return free_bytes;
}

std::size_t release_memory_while_idle() {
  return process_trimmer ? process_trimmer->trim_now() : 0;
}

bool release_idle_memory() {
  return process_trimmer && process_trimmer->maybe_trim();
}

} // namespace pixline
