// A plugin that needs a function pixline does not have: dlopen must fail
// and name the symbol.
#include "pipeline/plugin.hpp"
#include "pipeline/registry.hpp"

namespace pixline {
void a_function_pixline_does_not_have(stage_registry&);
}

namespace {
void register_nothing(pixline::stage_registry& registry) {
  pixline::a_function_pixline_does_not_have(registry);
}
} // namespace

PIXLINE_PLUGIN("missing-symbol", register_nothing)
