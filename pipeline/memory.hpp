#pragma once
// glibc malloc settings for an image pipeline (measured in
// docs/performance.md, "malloc").

namespace pixline {

/// Tunes glibc malloc for many threads allocating and freeing large image
/// buffers, unless the environment already sets any MALLOC_* tunable or
/// GLIBC_TUNABLES (the user's choice wins) or PIXLINE_MALLOC=system. Call it
/// once at start-up, before threads start; `pixline` does. Returns whether
/// it changed anything.
///
/// - M_MMAP_THRESHOLD 32 MiB and M_TRIM_THRESHOLD 256 MiB: libvips' region
///   buffers (hundreds of KiB to a few MiB) are reused from the heap instead
///   of being mmapped, page-faulted and zeroed again for every image, and a
///   thread's free memory is not handed back to the kernel after each image.
/// - M_ARENA_MAX = hardware threads: fewer half-empty arenas; lower peak RSS.
bool tune_malloc();

} // namespace pixline
