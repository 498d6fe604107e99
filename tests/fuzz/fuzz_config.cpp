// libFuzzer target: a TOML config, parsed and checked against the built-in
// stages (parse_config). config_error is the documented way to reject a
// config; any other exception, a crash or a sanitizer report is a finding.

#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  pixline::fuzz::init(argc, argv);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    (void)pixline::parse_config(text, "fuzz.toml", pixline::fuzz::registry());
  } catch (const pixline::config_error& e) {
    // Documented: "FILE:LINE:COLUMN: reason", never without the file name.
    pixline::fuzz::require(std::string{e.what()}.rfind("fuzz.toml", 0) == 0,
                           "config_error without the file name");
    pixline::fuzz::require(!e.reason().empty(), "config_error without reason");
  }
  return 0;
}
