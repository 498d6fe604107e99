#pragma once

#include <string>

namespace pixline {

class stage_registry;
struct stage_spec;

/// Plain-text help for one stage, as `pixline stages NAME` prints it.
std::string stage_help(const stage_spec& spec);

/// One line per stage, as `pixline stages` prints it.
std::string stage_list(const stage_registry& registry);

/// The whole stage reference in Markdown: docs/stages.md is this text.
std::string stage_reference_markdown(const stage_registry& registry);

} // namespace pixline
