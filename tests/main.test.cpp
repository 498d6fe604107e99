#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <vips/vips8>

#include "actors/process/worker_main.hpp"

int main(int argc, char** argv) {
  // The pipelines these tests run start their worker processes from this
  // program, as pixline's do from pixline.
  if (auto rc = pixline::run_worker_if_asked())
    return *rc;
  if (VIPS_INIT(argv[0]))
    vips_error_exit(nullptr);
  vips_cache_set_max(0);
  int result = Catch::Session().run(argc, argv);
  vips_shutdown();
  return result;
}
