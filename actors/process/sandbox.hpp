#pragma once
// What a worker process may still do once it has set itself up
// (docs/operations.md, "Isolation"): read system data (libraries, fonts,
// ICC profiles), read and write its own scratch folder, and nothing else of
// the file system; no network, no new programs, no debugging of others.

#include <cstdint>
#include <string>
#include <vector>

namespace pixline {

struct sandbox_settings {
  /// The worker's private scratch folder (libvips' TMPDIR): the only place
  /// it may create files.
  std::string scratch_dir;
  /// Address-space limit in bytes (RLIMIT_AS); 0: none.
  std::uint64_t memory_bytes = 0;
};

/// What enter_sandbox applied.
struct sandbox_report {
  /// The Landlock ABI version used; 0 when the kernel has none.
  int landlock_abi = 0;
  bool seccomp = false;
  /// Restrictions that could not be applied, in words.
  std::vector<std::string> warnings;
};

/// Restricts the calling process for the rest of its life, every thread
/// included (call it before starting threads that should not escape, or
/// rely on Landlock and seccomp applying to threads created later; threads
/// that exist already are covered by seccomp's TSYNC). Never throws.
sandbox_report enter_sandbox(const sandbox_settings& settings);

/// The Landlock ABI version this kernel offers; 0 when none.
int landlock_abi_version();

} // namespace pixline
