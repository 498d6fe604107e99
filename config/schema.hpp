#pragma once
// The options of the pipeline-wide tables ([pipeline], [source], [metrics],
// [[node]], [tls]), declared once with spec_builder: the config reader
// checks a table against its schema, and the option reference in
// docs/config.md is generated from the same declarations.

#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "pipeline/spec.hpp"

namespace pixline {

class stage_registry;

const spec_builder<pipeline_section>& pipeline_schema();

/// [source]'s own options; any other key is an option of the `load` stage.
/// The keys that are not scalars (files, include, exclude, workers,
/// max_in_flight) are listed with their documentation and conditions and
/// read by the config reader itself. Which keys each `kind` takes, and
/// needs, are the options' only_when and required_when.
const spec_builder<source_section>& source_schema();

const spec_builder<metrics_section>& metrics_schema();

const spec_builder<node_section>& node_schema();

const spec_builder<tls_section>& tls_schema();

/// The option reference of docs/config.md: for each pipeline-wide table
/// (and "stage tables", the keys every stage table shares) its Markdown
/// table of options, generated from the schemas.
std::vector<std::pair<std::string, std::string>> config_reference();

/// `doc` (docs/config.md, docs/distributed.md) with each table's reference
/// it has a place for replaced by the generated one: the text between
/// "<!-- BEGIN options TABLE ... -->" and "<!-- END options TABLE -->". The
/// prose around is kept as written. Throws std::runtime_error when `doc`
/// has no place at all, or a place without its end.
std::string with_config_reference(const std::string& doc);

} // namespace pixline
