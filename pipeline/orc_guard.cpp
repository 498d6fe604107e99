#include "pipeline/orc_guard.hpp"

#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

// Opaque here: pixline never looks inside, and needs no orc headers.
struct _OrcProgram;

namespace {

std::mutex orc_code_mutex;
std::atomic<std::uint64_t> guarded_calls{0};

template <class Fn>
Fn real(const char* name) {
  auto* fn = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
  if (fn == nullptr) {
    // Only reachable when libvips calls orc, so orc is loaded: a missing
    // symbol means a broken installation, and carrying on would corrupt.
    std::fprintf(stderr, "pixline: cannot find %s in liborc: %s\n", name,
                 dlerror());
    std::abort();
  }
  return fn;
}

} // namespace

extern "C" {

// Same signatures as <orc/orcprogram.h>; OrcCompileResult is a C enum (int).
int orc_program_compile(_OrcProgram* program) {
  static auto fn = real<int (*)(_OrcProgram*)>("orc_program_compile");
  std::lock_guard lock{orc_code_mutex};
  guarded_calls.fetch_add(1, std::memory_order_relaxed);
  return fn(program);
}

void orc_program_free(_OrcProgram* program) {
  static auto fn = real<void (*)(_OrcProgram*)>("orc_program_free");
  std::lock_guard lock{orc_code_mutex};
  guarded_calls.fetch_add(1, std::memory_order_relaxed);
  fn(program);
}

} // extern "C"

namespace pixline {

std::uint64_t orc_guarded_calls() {
  return guarded_calls.load(std::memory_order_relaxed);
}

} // namespace pixline
