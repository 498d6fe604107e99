#pragma once

// Shared by the libFuzzer targets in tests/fuzz.

#include <cstdio>
#include <cstdlib>

#include <vips/vips8>

#include "pipeline/registry.hpp"

namespace pixline::fuzz {

/// Starts libvips once (stage factories may build images).
inline void init(int*, char*** argv) {
  if (VIPS_INIT((*argv)[0]))
    std::abort();
  vips_cache_set_max(0);
}

/// The built-in stages, built once.
inline const stage_registry& registry() {
  static const auto result = builtin_registry();
  return result;
}

/// A broken promise of the code under test: report and abort, which
/// libFuzzer records as a crash with this input.
inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz: %s\n", what);
    std::abort();
  }
}

} // namespace pixline::fuzz
