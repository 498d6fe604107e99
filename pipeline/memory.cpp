#include "pipeline/memory.hpp"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
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

} // namespace

bool tune_malloc() {
  if (auto choice = std::getenv("PIXLINE_MALLOC");
      choice && std::string_view{choice} == "system")
    return false;
  if (malloc_set_by_environment())
    return false;
  int arenas = int(std::max(2u, std::thread::hardware_concurrency()));
  return mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024) == 1
         && mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024) == 1
         && mallopt(M_ARENA_MAX, arenas) == 1;
}

} // namespace pixline
