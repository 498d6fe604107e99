#pragma once
// glibc malloc settings for an image pipeline (measured in
// bench/HISTORY.md, "malloc").

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace pixline {

/// What tune_malloc() set: nothing (`tuned` false: PIXLINE_MALLOC=system,
/// the user's own MALLOC_* or GLIBC_TUNABLES, or a failed mallopt), or the
/// arenas and the heap trimming threshold below.
struct malloc_tuning {
  bool tuned = false;
  unsigned arenas = 0;
  /// release_idle_memory() trims above this many MiB free; 0: never.
  std::size_t trim_mib = 0;
};

/// One line for the log: "glibc defaults (...)" when nothing was tuned,
/// else the settings made ("mmap threshold 32 MiB, 1 arena, heap trimmed
/// when over 64 MiB is free (at most every 500 ms)").
std::string describe(const malloc_tuning& tuning);

/// Tunes glibc malloc for many threads allocating and freeing large image
/// buffers, unless the environment already sets any MALLOC_* tunable or
/// GLIBC_TUNABLES (the user's choice wins) or PIXLINE_MALLOC=system. Call it
/// once at start-up, before threads start; `pixline` does.
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
///   core with a 4 MiB threshold (bench/HISTORY.md). More arenas mean
///   less waiting for an arena's lock on a machine with many cores; a
///   malformed value is reported on stderr.
/// - Heap trimming, malloc_trim_mib(PIXLINE_MALLOC_TRIM_MIB): by default
///   release_idle_memory() hands the heap's free pages back to the kernel
///   when more than 64 MiB of it is free, at most every 500 ms, all but 64
///   MiB of its largest free blocks (all of it the first time); 0 turns
///   that off; a malformed value is reported on stderr.
malloc_tuning tune_malloc();

/// The heap trimming threshold tune_malloc() uses, in MiB: `setting` (the
/// value of PIXLINE_MALLOC_TRIM_MIB, or null when unset) if it is a whole
/// number from 0 (no trimming) to 1048576, else default_trim_mib. A
/// malformed `setting` also fills `error` with a message naming it.
std::size_t malloc_trim_mib(const char* setting, std::string& error);

/// Trimming when more than this is free keeps the peak of a long batch
/// close to a short one's: without it, which images happen to be worked on
/// together decides how much freed memory glibc keeps. It costs a little
/// speed, since trimmed pages are faulted in again (bench/HISTORY.md,
/// "Heap trimming on by default").
inline constexpr std::size_t default_trim_mib = 64;

/// How often, at most, release_idle_memory() trims: often enough that a
/// fast machine does not finish many images between two trims (the peak of
/// a long run creeps up then), rarely enough that faulting the pages in
/// again costs little (bench/HISTORY.md, "Heap trimmed every 500 ms").
inline constexpr std::chrono::milliseconds trim_interval{500};

/// How many malloc arenas tune_malloc() allows: `setting` (the value of
/// PIXLINE_MALLOC_ARENAS, or null when unset) if it is a whole number from
/// 1 to 1024, else one per 4 hardware threads, at least 1. A malformed
/// `setting` also fills `error` with a message naming it.
unsigned malloc_arenas(const char* setting, unsigned hardware_threads,
                       std::string& error);

/// Hands the heap's free pages back to the kernel (malloc_trim) when more
/// than `above` bytes of it are free (mallinfo2's fordblks, which counts
/// free chunks whether or not their pages were handed back already), at
/// most once per `every`; a check that finds too little free is not
/// repeated for a quarter of `every`. Lowers the peak memory by what glibc
/// would keep of freed image buffers. A trim but the first keeps `above`
/// bytes: the largest free blocks (then the top of the heap), from which
/// the next image's big buffers are carved without faulting their pages
/// in again; the small scattered rest goes. The first keeps nothing (one
/// large image alone leaves nothing to reuse). Pages handed back have to be faulted in
/// again, which costs speed. Safe to call from any thread.
class memory_trimmer {
public:
  memory_trimmer(std::size_t above, std::chrono::milliseconds every);

  /// Trims if it is time to; returns whether it did.
  bool maybe_trim();

  /// Trims now if any whole page's worth of the heap is free, whatever the
  /// threshold and the interval, keeping nothing (for a pipeline with
  /// nothing to do); returns how many bytes were free before.
  std::size_t trim_now();

private:
  std::size_t above_;
  std::chrono::milliseconds every_;
  /// How many times maybe_trim() trimmed.
  std::atomic<unsigned> trims_{0};
  std::atomic<std::int64_t> last_ms_;
  /// When a check last found no more than `above_` free.
  std::atomic<std::int64_t> checked_ms_;
  std::atomic<bool> busy_{false};
};

/// The process's trimmer, called by pipeline workers after every image: a
/// no-op unless tune_malloc() applied its settings with a trimming
/// threshold above 0 (by default 64 MiB). It then trims when more than
/// that many MiB are free, at most every trim_interval. Returns whether it
/// trimmed.
bool release_idle_memory();

/// The pipeline has had nothing in flight for a while (a watch between
/// bursts): trims the heap now, whatever the threshold and interval, if
/// the process's trimmer is on, so an idle `pixline watch` does not keep
/// what its last burst freed. Returns how many bytes were free before (0
/// when the trimmer is off).
std::size_t release_memory_while_idle();

/// How long the controller waits, with nothing in flight, before it calls
/// release_memory_while_idle().
inline constexpr std::chrono::milliseconds idle_trim_after{1000};

} // namespace pixline
