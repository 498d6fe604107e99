#pragma once

/// What the command line and the environment change in a config file
/// before it is checked: `${VAR}` in the TOML text, and `--set PATH=VALUE`
/// on the parsed tables. Both feed the same reader as the file, so an
/// overridden value is typed and checked exactly like one written there.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>


namespace pixline {

/// Parses TOML text as it is (no `${VAR}`), `name` naming it in messages.
/// Throws config_error at the line and column (from 1) of a syntax error,
/// with toml++'s description of it. What every pixline TOML file (configs,
/// test files) is read with.
toml::table parse_toml_text(const std::string& text, const std::string& name);

/// Looks a variable up: its value, or nullptr when it is not set.
using variable_lookup = std::function<const char*(const std::string&)>;

/// Replaces `${NAME}` and `${NAME:-default}` in TOML text with the value of
/// the environment variable NAME (`:-default` also when NAME is set but
/// empty, as in the shell); `$${` stands for a literal `${`. Comments are
/// left alone. A value is inserted as the contents of the string it is in
/// (quotes and backslashes escaped in "basic strings"), so a variable can
/// never close a string or add keys; outside strings (`width = ${WIDTH}`)
/// it is inserted as TOML and must hold no line break. Throws config_error
/// naming `file`, the line and the column of an unset variable without a
/// default, or of a value that cannot go where it is used.
std::string expand_variables(std::string_view text, const std::string& file,
                             const variable_lookup& lookup);

/// The same with the process environment.
std::string expand_variables(std::string_view text, const std::string& file);

/// Applies `--set PATH=VALUE`s to a parsed config, in order. PATH is
/// dotted: `pipeline.max_in_flight`, `source.path`, `sink.quality`,
/// `metrics.listen`; `filter.2.width` is the second [[filter]] (counting
/// from 1) and `filter.thumbnail.width` the one with type = "thumbnail";
/// `sink.2.format` one of several [[sink]]s. Missing tables are created,
/// a missing filter or sink is not (--set changes stages, --chain replaces
/// them). VALUE is a TOML value (`512`, `true`, `"a b"`, `["*.jpg"]`,
/// `{ local = 2 }`); anything that is not one is taken as a string, so
/// `--set source.path=photos` needs no quotes. The values carry `--set
/// PATH=VALUE` as their source, so errors found later name the override.
/// Throws config_error naming the override when PATH cannot be followed.
void apply_overrides(toml::table& root, const std::vector<std::string>& sets);

} // namespace pixline
