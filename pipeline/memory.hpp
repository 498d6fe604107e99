#pragma once
// glibc malloc settings for an image pipeline (measured in
// docs/performance.md, "malloc").

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace pixline {

/// Tunes glibc malloc for many threads allocating and freeing large image
/// buffers, unless the environment already sets any MALLOC_* tunable or
/// GLIBC_TUNABLES (the user's choice wins) or PIXLINE_MALLOC=system. Call it
/// once at start-up, before threads start; `pixline` does. Returns whether
/// it changed anything.
///
/// - M_MMAP_THRESHOLD 32 MiB and M_TRIM_THRESHOLD 256 MiB: libvips' region
///   buffers, libjpeg's coefficient arrays (progressive JPEG) and decoded
///   images below 32 MiB are reused from the heap instead of being mmapped,
///   page-faulted and zeroed again for every image, and free memory is not
///   handed back to the kernel after each image. Blocks of 32 MiB and up
///   (a large image's buffers) are mmapped and go back when freed.
/// - M_ARENA_MAX = malloc_arenas(PIXLINE_MALLOC_ARENAS, hardware threads):
///   by default one arena per 4 hardware threads, at least 1 (glibc's
///   default is 8 per core). Each arena's heap grows to the most that ever
///   landed on it at once and keeps it, so with an arena per core a long
///   batch's peak crept above a short one's; one arena for 2 cores keeps it
///   flat and, with the 32 MiB threshold, was also faster than an arena per
///   core with a 4 MiB threshold (docs/performance.md). More arenas mean
///   less waiting for an arena's lock on a machine with many cores; a
///   malformed value is reported on stderr.
/// - PIXLINE_MALLOC_TRIM_MIB=N (N > 0) also sets up release_idle_memory();
///   a value that is not a whole number of MiB is reported on stderr and
///   leaves trimming off.
bool tune_malloc();

/// How many malloc arenas tune_malloc() allows: `setting` (the value of
/// PIXLINE_MALLOC_ARENAS, or null when unset) if it is a whole number from
/// 1 to 1024, else one per 4 hardware threads, at least 1. A malformed
/// `setting` also fills `error` with a message naming it.
unsigned malloc_arenas(const char* setting, unsigned hardware_threads,
                       std::string& error);

/// Hands the heap's free pages back to the kernel (malloc_trim) when more
/// than `above` bytes of it are free (mallinfo2's fordblks, which counts
/// free chunks whether or not their pages were handed back already), at
/// most once per `every`. Lowers the peak memory by what glibc would keep
/// of freed image buffers; the pages then have to be faulted in again,
/// which costs speed. Safe to call from any thread.
class memory_trimmer {
public:
  memory_trimmer(std::size_t above, std::chrono::milliseconds every);

  /// Trims if it is time to; returns whether it did.
  bool maybe_trim();

private:
  std::size_t above_;
  std::chrono::milliseconds every_;
  std::atomic<std::int64_t> last_ms_;
  std::atomic<bool> busy_{false};
};

/// The process's trimmer, called by pipeline workers after every image: a
/// no-op unless tune_malloc() applied its settings and PIXLINE_MALLOC_TRIM_MIB
/// asked for one. It then trims when more than that many MiB are free, at
/// most every 2 s. Off by default: in the benchmark it lowered W1's peak
/// memory by about a fifth for about 3% of speed, and did not make the peak
/// of a long run match a short run's (docs/performance.md). Returns whether
/// it trimmed.
bool release_idle_memory();

} // namespace pixline
