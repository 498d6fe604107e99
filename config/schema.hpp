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
/// Which keys each `kind` takes, and needs, are the options' only_when and
/// required_when.
const spec_builder<source_section>& source_schema();

const spec_builder<metrics_section>& metrics_schema();

/// A matrix sink's `widths`: integers 1 – 100000, at least one, each once.
option_spec matrix_widths();

/// A matrix sink's `formats`: names among `formats` (the save stage's),
/// at least one, each once.
option_spec matrix_formats(std::vector<std::string> formats);

/// The nodes of a placement, without their place in the file.
std::vector<remote_placement> remote_placements(const worker_placement& p);

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
