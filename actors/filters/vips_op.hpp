#pragma once

#include <optional>
#include <string>

#include "pipeline/spec.hpp"

namespace pixline {

class stage_registry;

/// The spec of `vips:OPERATION`: any libvips operation that takes one image
/// (`in`) and makes one (`out`), its other arguments as options typed and
/// ranged by libvips' own introspection (int, double, bool, string and enum
/// arguments; an operation with a required argument of another type is not
/// offered). Nothing when libvips has no such operation or it does not fit.
/// Needs libvips initialised.
std::optional<stage_spec> vips_operation_spec(const std::string& operation);

/// Adds the `vips:` family to `registry`.
void register_vips_operations(stage_registry& registry);

} // namespace pixline
