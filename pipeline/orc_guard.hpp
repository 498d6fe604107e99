#pragma once
// Works around a thread-safety bug in Debian 12's liborc (0.4.33), which
// libvips uses to compile its vector paths (reducev, convi, morph...) at
// run time.
//
// orc allocates code memory under its global mutex but frees it without
// taking any lock (orc_code_chunk_free), so two images released at the same
// time, or one released while another compiles, corrupt orc's free list and
// the process dies in orc_code_free. pixline releases images on many threads
// at once, and a batch of 2,000 thumbnails crashed about one run in ten.
//
// The fix here is ELF symbol interposition: pixline defines
// orc_program_compile and orc_program_free, the only two orc entry points
// libvips calls that touch code memory; each takes one process-wide mutex
// and calls the real function (dlsym RTLD_NEXT). orc's own internal calls are
// direct, so they never come back here, and the mutex is a leaf: nothing is
// called under it but orc itself. Disabling orc instead (vips_vector_set_enabled)
// costs 12-18% CPU on thumbnails.

#include <cstdint>

namespace pixline {

/// How many orc compile/free calls from libvips went through the guard.
/// Non-zero once libvips has used orc: proof that the interposition is live.
std::uint64_t orc_guarded_calls();

} // namespace pixline
