#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <vips/vips8>

int main(int argc, char** argv) {
  if (VIPS_INIT(argv[0]))
    vips_error_exit(nullptr);
  vips_cache_set_max(0);
  int result = Catch::Session().run(argc, argv);
  vips_shutdown();
  return result;
}
