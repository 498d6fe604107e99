#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace pixline {

class stage;

/// A raw option value as it comes from a config file or a command line.
using option_value = std::variant<bool, std::int64_t, double, std::string>;

/// Option values by option name.
using option_map = std::map<std::string, option_value>;

/// The type of a stage option.
enum class option_type { boolean, integer, number, string, choice };

/// Human-readable name of an option type ("integer", "number", ...).
std::string to_string(option_type t);

/// Renders a value the way it would be written in TOML.
std::string to_string(const option_value& v);

/// One option of a stage: its name, type, default, range and documentation.
struct option_spec {
  std::string name;
  option_type type = option_type::string;
  option_value default_value;
  std::optional<double> min;
  std::optional<double> max;
  std::vector<std::string> choices;
  std::string doc;
  /// A string option whose value may name a file the stage reads (an
  /// overlay image, an ICC profile). Worker processes cannot open files
  /// (docs/operations.md, "Isolation"): pixline reads it for them. On a
  /// node, the coordinator sends the file's bytes (docs/distributed.md).
  bool names_file = false;
  /// Values of a names_file option that name no file: the stage's built-in
  /// resources ("srgb"), matched ignoring case. Any other value is a file.
  std::vector<std::string> builtin_names{};

  /// True when `value` is one of builtin_names.
  bool is_builtin_name(const std::string& value) const;
};

/// What a stage is: the single source of truth for validation, `pixline
/// stages` and the generated docs/stages.md.
struct stage_spec {
  /// Unique stage name as used in config (`type = "sharpen"`).
  std::string name;
  /// One line describing what the stage does.
  std::string summary;
  /// A config snippet showing typical use.
  std::string example;
  std::vector<option_spec> options;
  /// True when the stage reads pixels out of order (rotating by 90 degrees,
  /// flipping vertically), so the loader must not use sequential access.
  bool random_access = false;
  /// Builds the stage from validated options; empty for the loader and the
  /// writer, which the pipeline builds itself.
  std::function<std::unique_ptr<stage>(const option_map&)> make;
  /// Where the stage comes from: empty for pixline's own, "plugin NAME
  /// (PATH)" for a plugin's (set by load_plugin).
  std::string origin;

  /// The option called `name`, or nullptr.
  const option_spec* find(const std::string& name) const;
};

/// Checks `value` against `spec` and returns it converted to the option's
/// type (an integer given for a number becomes a double), or an error message
/// that names the option and the reason.
std::variant<option_value, std::string> check_option(const option_spec& spec,
                                                     const option_value& value);

/// Checks every entry of `values` against `spec`: unknown names, wrong types
/// and out-of-range values are errors. Returns the first error, or nothing.
std::optional<std::string> check_options(const stage_spec& spec,
                                         option_map& values);

/// Builds a stage_spec whose options are fields of `Options`, so the spec and
/// the typed struct cannot drift apart: each option names the member it fills.
template <class Options>
class spec_builder {
public:
  spec_builder(std::string name, std::string summary) {
    spec_.name = std::move(name);
    spec_.summary = std::move(summary);
  }

  spec_builder& example(std::string text) {
    spec_.example = std::move(text);
    return *this;
  }

  spec_builder& random_access(bool value = true) {
    spec_.random_access = value;
    return *this;
  }

  spec_builder& integer(std::string name, int Options::*member, int def,
                        int min, int max, std::string doc) {
    add({std::move(name), option_type::integer, std::int64_t{def},
         double(min), double(max), {}, std::move(doc)},
        [member](Options& o, const option_value& v) {
          o.*member = static_cast<int>(std::get<std::int64_t>(v));
        });
    return *this;
  }

  spec_builder& number(std::string name, double Options::*member, double def,
                       double min, double max, std::string doc) {
    add({std::move(name), option_type::number, def, min, max, {},
         std::move(doc)},
        [member](Options& o, const option_value& v) {
          o.*member = std::get<double>(v);
        });
    return *this;
  }

  spec_builder& boolean(std::string name, bool Options::*member, bool def,
                        std::string doc) {
    add({std::move(name), option_type::boolean, def, {}, {}, {},
         std::move(doc)},
        [member](Options& o, const option_value& v) {
          o.*member = std::get<bool>(v);
        });
    return *this;
  }

  spec_builder& text(std::string name, std::string Options::*member,
                     std::string def, std::string doc) {
    add({std::move(name), option_type::string, std::move(def), {}, {}, {},
         std::move(doc)},
        [member](Options& o, const option_value& v) {
          o.*member = std::get<std::string>(v);
        });
    return *this;
  }

  /// Marks the option added last as naming a file the stage reads
  /// (option_spec::names_file); `builtins` are values that name a
  /// resource of the stage's own instead (option_spec::builtin_names).
  spec_builder& names_file(std::vector<std::string> builtins = {}) {
    spec_.options.back().names_file = true;
    spec_.options.back().builtin_names = std::move(builtins);
    return *this;
  }

  spec_builder& choice(std::string name, std::string Options::*member,
                       std::string def, std::vector<std::string> choices,
                       std::string doc) {
    add({std::move(name), option_type::choice, std::move(def), {}, {},
         std::move(choices), std::move(doc)},
        [member](Options& o, const option_value& v) {
          o.*member = std::get<std::string>(v);
        });
    return *this;
  }

  /// Fills an `Options` from checked values, taking defaults for the rest.
  Options decode(const option_map& values) const {
    Options result{};
    for (size_t i = 0; i < spec_.options.size(); ++i) {
      const auto& opt = spec_.options[i];
      auto it = values.find(opt.name);
      setters_[i](result, it != values.end() ? it->second : opt.default_value);
    }
    return result;
  }

  /// The spec of a stage that has no factory (loader, writer).
  stage_spec spec() const {
    return spec_;
  }

  /// The spec of a filter stage built as `Stage(Options)`.
  template <class Stage>
  stage_spec filter() const {
    auto result = spec_;
    auto self = *this;
    result.make = [self](const option_map& values) -> std::unique_ptr<stage> {
      return std::make_unique<Stage>(self.decode(values));
    };
    return result;
  }

private:
  using setter = std::function<void(Options&, const option_value&)>;

  void add(option_spec opt, setter set) {
    spec_.options.push_back(std::move(opt));
    setters_.push_back(std::move(set));
  }

  stage_spec spec_;
  std::vector<setter> setters_;
};

/// A choice option's table: each config name with the value it stands for.
/// One table per option is the single list the spec shows and the stage maps.
template <class T, std::size_t N>
using choice_table = std::pair<const char*, T>[N];

/// The names of a choice table, in order, for the spec.
template <class T, std::size_t N>
std::vector<std::string> choice_names(const choice_table<T, N>& table) {
  std::vector<std::string> result;
  for (auto& entry : table)
    result.emplace_back(entry.first);
  return result;
}

/// The value `name` stands for in `table`; throws std::invalid_argument
/// naming `option` and the choices when there is none.
template <class T, std::size_t N>
T choice_value(const char* option, const choice_table<T, N>& table,
               const std::string& name) {
  for (auto& entry : table)
    if (name == entry.first)
      return entry.second;
  throw std::invalid_argument(
    fmt::format("option '{}' must be one of {}, got \"{}\"", option,
                fmt::join(choice_names(table), ", "), name));
}

} // namespace pixline
