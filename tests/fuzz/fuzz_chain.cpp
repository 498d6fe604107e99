// libFuzzer target: an inline chain (`pixline run --chain`), applied to a
// config with a sink and a filter. chain_error is the documented way to
// reject a chain, and a failing chain must leave the config as it was; any
// other exception, a crash or a sanitizer report is a finding.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "config/chain.hpp"
#include "config/config.hpp"
#include "fuzz_support.hpp"

namespace {

const pixline::pipeline_config& base() {
  static const auto config = pixline::parse_config(
    "[sink]\npath = \"out\"\n\n[[filter]]\ntype = \"sharpen\"\n", "base.toml",
    pixline::fuzz::registry());
  return config;
}

std::vector<std::string> filter_types(const pixline::pipeline_config& c) {
  std::vector<std::string> types;
  for (const auto& f : c.filters)
    types.push_back(f.type);
  return types;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  pixline::fuzz::init(argc, argv);
  (void)base();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  std::string chain(reinterpret_cast<const char*>(data), size);
  auto config = base();
  try {
    pixline::apply_chain(chain, config, pixline::fuzz::registry());
  } catch (const pixline::chain_error& e) {
    pixline::fuzz::require(e.offset() <= chain.size(),
                           "chain_error offset past the end of the chain");
    pixline::fuzz::require(filter_types(config) == filter_types(base()),
                           "a failing chain changed the config's filters");
  }
  return 0;
}
