#pragma once
// glibc malloc settings for an image pipeline (measured in
// docs/performance.md, "malloc").

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pixline {

/// The GLIBC_TUNABLES setting under which glibc (2.35 and later) asks the
/// kernel for transparent huge pages for the memory malloc maps: its heap
/// and the blocks it mmaps on their own.
inline constexpr std::string_view huge_page_tunables = "glibc.malloc.hugetlb=1";

/// Whether `enabled`, the text of /sys/kernel/mm/transparent_hugepage/enabled
/// ("always [madvise] never"), selects "always" or "madvise": the kernel then
/// backs memory that asks for it with 2 MiB pages.
bool huge_pages_selected(std::string_view enabled);

/// huge_pages_selected() for this machine; false when the file cannot be
/// read.
bool huge_pages_usable();

/// Called first in main(), before any thread exists. glibc reads its
/// tunables only when a program starts, so when pixline may tune malloc (no
/// MALLOC_* or GLIBC_TUNABLES in the environment, PIXLINE_MALLOC is not
/// "system") and the machine has transparent huge pages, this executes the
/// program again (/proc/self/exe, the same arguments, the same process)
/// with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 added. Returns, changing
/// nothing, when it need not or the exec fails.
void restart_with_huge_pages(char** argv);

/// The mmap threshold tune_malloc() sets, given the process's GLIBC_TUNABLES
/// (null when unset) and whether the machine has huge pages: 4 MiB when
/// glibc runs with huge_page_tunables on such a machine, else 32 MiB.
std::size_t mmap_threshold_for(const char* tunables, bool huge_pages);

/// What tune_malloc() did, for the log.
struct malloc_tuning {
  /// False when the environment chose (PIXLINE_MALLOC=system, MALLOC_*, or
  /// a GLIBC_TUNABLES other than huge_page_tunables).
  bool tuned = false;
  std::size_t mmap_threshold = 0;
  bool huge_pages = false;
  unsigned arenas = 0;
};

/// One line for the debug log: "malloc: ...".
std::string describe(const malloc_tuning& t);

/// Tunes glibc malloc for many threads allocating and freeing large image
/// buffers, unless the environment already sets any MALLOC_* tunable or
/// GLIBC_TUNABLES (the user's choice wins) or PIXLINE_MALLOC=system. Call it
/// once at start-up, before threads start; `pixline` does. Returns what it
/// set.
///
/// - M_MMAP_THRESHOLD (mmap_threshold_for) and M_TRIM_THRESHOLD 256 MiB.
///   With transparent huge pages (restart_with_huge_pages): blocks of 4 MiB
///   and up (libjpeg's coefficient arrays for progressive JPEGs, large
///   decoded images) are mmapped, faulted in 2 MiB at a time, and unmapped
///   when freed, so they never fragment the heap and a long run's peak
///   stays where a short run's is. Without: such blocks below 32 MiB are
///   reused from the heap, since mmapping them afresh for every image costs
///   a page fault per 4 KiB (slow on virtual machines); the heap then grows
///   by about a tenth over its first pass of a mixed batch. Free memory is
///   not handed back to the kernel after each image either way.
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
malloc_tuning tune_malloc();

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
