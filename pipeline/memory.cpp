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
  malloc_trim(0);
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
