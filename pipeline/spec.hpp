#pragma once

#include <algorithm>
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
struct stage_spec;

/// The values of a list option of strings (`include = ["*.jpg"]`).
using string_list = std::vector<std::string>;

/// The values of a list option of integers (`widths = [480, 960]`).
using integer_list = std::vector<std::int64_t>;

/// Integers by name, in the order written: a placement's
/// `{ local = 2, a = 4 }`.
using integer_table = std::vector<std::pair<std::string, std::int64_t>>;

/// A raw option value as it comes from a config file or a command line.
using option_value = std::variant<bool, std::int64_t, double, std::string,
                                  string_list, integer_list, integer_table>;

/// Option values by option name.
using option_map = std::map<std::string, option_value>;

/// The type of a stage option. A `list` holds items of one scalar type
/// (option_spec::item); a `placement` is workers, `N` or
/// `{ local = N, NODE = M, ... }` (placement_of).
enum class option_type {
  boolean,
  integer,
  number,
  string,
  choice,
  list,
  placement
};

/// Human-readable name of an option type ("integer", "number", ...).
std::string to_string(option_type t);

/// Renders a value the way it would be written in TOML.
std::string to_string(const option_value& v);

/// What a string value must be besides a string: the reason it is not
/// (said of the value: "must not be empty"), or nothing.
using text_check = std::function<std::optional<std::string>(const std::string&)>;

/// A text_check for file paths: not empty, no NUL character.
std::optional<std::string> path_problem(const std::string& text);

/// A text_check for file-name patterns (fnmatch(3) with `**`): not
/// empty, no NUL character, every `[` closed by a `]`.
std::optional<std::string> pattern_problem(const std::string& text);

/// A condition on another option of the same table: that option (a choice)
/// has one of `values`, given or by default (`kind = "watch"`).
struct option_condition {
  std::string option;
  std::vector<std::string> values;
  /// For required_when: what the required option is, in the message
  /// ("the folder to read"). For only_when: per value of `option` the
  /// option does not apply to, a hint after the message ("list" ->
  /// "list the inputs in 'files'").
  std::string what{};
  std::map<std::string, std::string> notes{};

  /// True when `option`'s value in `given` (or its default in `spec`) is
  /// one of `values`.
  bool holds(const stage_spec& spec, const option_map& given) const;
};

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

  /// The option must be given: a table without it is an error (at the
  /// table), found by check_rules without building anything.
  bool required = false;
  /// What a missing required option is reported as; empty: "option 'NAME'
  /// is required".
  std::string required_text{};
  /// The option applies only when this holds (a [source] key that only
  /// one `kind` takes): given otherwise, it is an error at the option.
  std::optional<option_condition> only_when{};
  /// The option must be given (and, a string, not be empty) when one of
  /// these holds (`url` with `kind = "queue"`, `done_dir` with
  /// `on_success = "move"`).
  std::vector<option_condition> required_when{};

  /// For references only: the default in words when the value alone says
  /// too little ("4 x hardware threads" for a 0 meaning "automatic").
  std::string default_text{};
  /// For references only: the type in words when the generated one says
  /// too little ("array of `save` formats").
  std::string type_text{};

  /// A list's items: string, integer or choice, each checked as an option
  /// of that type would be (min, max and choices apply to the items).
  option_type item = option_type::string;
  /// How many items a list takes.
  std::size_t min_items = 0;
  std::optional<std::size_t> max_items{};
  /// No item may be in the list twice.
  bool unique_items = false;
  /// What a string value, or each string of a list, must also be
  /// (path_problem, pattern_problem).
  text_check check_text{};
};

/// The type of `opt` in words, for messages and references: "integer",
/// "array of strings", "integer or table".
std::string type_name(const option_spec& opt);

/// Workers of a stage: `local` on this machine and some per named node,
/// from a checked placement value (`4`, or `{ local = 2, a = 4 }`, where
/// a left-out `local` is 0).
struct worker_placement {
  int local = 0;
  std::vector<std::pair<std::string, int>> nodes;
};

/// The placement a checked value of a placement option stands for.
worker_placement placement_of(const option_value& value);

/// A rule between options that failed: the option it is best reported at
/// (empty: the whole table) and why.
struct option_problem {
  std::string option;
  std::string reason;
};

/// Options that several tables share, declared once: `workers` and
/// `max_in_flight` of every stage table (docs/config.md).
const std::vector<option_spec>& placement_options();

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
  /// True when the stage, first after the loader, opens the file itself
  /// (stage::fuses_load, thumbnail's shrink-on-load); declared here so the
  /// pipeline is planned without building the stage.
  bool fuses_load = false;
  /// Rules between checked options ("width or scale, not both"): nothing
  /// when they hold. Pure: reads no file, builds nothing, so `pixline
  /// validate` checks every rule without constructing a stage.
  std::function<std::optional<option_problem>(const option_map&)> rules;

  /// Parts of the stage, each with options of its own (the save stage's
  /// formats: which of its options each takes, and what it does with
  /// them), for references; `name` and `summary` are the part's. The
  /// stage's own `options` hold every part's options too, once.
  std::vector<stage_spec> parts{};

  /// The option called `name`, or nullptr.
  const option_spec* find(const std::string& name) const;
};

/// Why a value does not fit its option: the reason, naming the option,
/// and the offending item of a list or entry of a placement table (by
/// index, in the order written), when one is to blame.
struct value_error {
  std::string reason;
  std::optional<std::size_t> item{};
};

/// Checks `value` against `spec` and returns it converted to the option's
/// type (an integer given for a number becomes a double; an empty list of
/// one item type, another), or what is wrong with it.
std::variant<option_value, value_error> check_value(const option_spec& spec,
                                                     const option_value& value);

/// The same, with the error as its message alone.
std::variant<option_value, std::string> check_option(const option_spec& spec,
                                                     const option_value& value);

/// Checks every entry of `values` against `spec`: unknown names, wrong types
/// and out-of-range values are errors. Returns the first error, or nothing.
std::optional<std::string> check_options(const stage_spec& spec,
                                         option_map& values);

/// The problem with option `opt` being given in `values` when its only_when
/// condition does not hold (at `opt`), or nothing. The message names the
/// condition and the value that fails it: "option 'settle_ms' is only for
/// kind = \"watch\" (here kind = \"directory\")".
std::optional<option_problem> check_applies(const stage_spec& spec,
                                            const option_spec& opt,
                                            const option_map& values);

/// The option's conditions for a reference, in Markdown: "**Only with
/// `kind = "watch"`.**", "**Only with `kind = "queue"`; required.**",
/// "**Required with `on_success = "move"`.**"; empty when it has none.
std::string conditions_markdown(const option_spec& opt);

/// Everything about `values` that needs no single option alone: required
/// options that are missing, options given where their only_when condition
/// does not hold, options missing where a required_when condition holds
/// (reported at the option of the condition when it is given), then the
/// spec's rules. `values` must have passed check_options. Builds nothing
/// and reads no file.
std::optional<option_problem> check_rules(const stage_spec& spec,
                                          const option_map& values);

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

  /// Adds a part with options of its own, for references
  /// (stage_spec::parts).
  spec_builder& part(stage_spec spec) {
    spec_.parts.push_back(std::move(spec));
    return *this;
  }

  /// The stage opens the file itself when first (stage_spec::fuses_load).
  spec_builder& fuses_load(bool value = true) {
    spec_.fuses_load = value;
    return *this;
  }

  /// Marks the option added last as required (option_spec::required);
  /// `text`, when given, is what its absence is reported as.
  spec_builder& required(std::string text = {}) {
    spec_.options.back().required = true;
    spec_.options.back().required_text = std::move(text);
    return *this;
  }

  /// The option added last applies only when `option` (a choice declared
  /// before it) has one of `values`; `notes` give, per other value, a hint
  /// why not (option_spec::only_when).
  spec_builder& only_when(std::string option, std::vector<std::string> values,
                          std::map<std::string, std::string> notes = {}) {
    auto& o = spec_.options.back();
    o.only_when = condition(std::move(option), std::move(values));
    o.only_when->notes = std::move(notes);
    return *this;
  }

  /// The option added last is required when `option` (a choice declared
  /// before it) has one of `values`; `what` says what it is, in the
  /// message (option_spec::required_when). May be given several times.
  spec_builder& required_when(std::string option,
                              std::vector<std::string> values,
                              std::string what = {}) {
    auto c = condition(std::move(option), std::move(values));
    c.what = std::move(what);
    spec_.options.back().required_when.push_back(std::move(c));
    return *this;
  }

  /// Documents the default of the option added last in words
  /// (option_spec::default_text).
  spec_builder& default_text(std::string text) {
    spec_.options.back().default_text = std::move(text);
    return *this;
  }

  /// Adds a rule between options, checked on the decoded `Options`:
  /// `rule` returns a problem, or nothing when the options are fine.
  /// Rules run in the order added; the first problem is reported.
  spec_builder&
  check(std::function<std::optional<option_problem>(const Options&)> rule) {
    rules_.push_back([rule = std::move(rule)](const Options& o,
                                              const option_map&) {
      return rule(o);
    });
    return *this;
  }

  /// Adds a rule that also sees which options were given (`given`, as
  /// checked), for rules on a value given explicitly, such as an empty
  /// string where leaving the option out is fine.
  spec_builder& check_given(
    std::function<std::optional<option_problem>(const Options&,
                                                 const option_map& given)>
      rule) {
    rules_.push_back(std::move(rule));
    return *this;
  }

  /// Adds a rule that reports at the whole table: `rule` returns the reason,
  /// or nothing.
  spec_builder&
  check(std::function<std::optional<std::string>(const Options&)> rule) {
    return check([rule = std::move(rule)](const Options& o)
                   -> std::optional<option_problem> {
      if (auto why = rule(o))
        return option_problem{"", std::move(*why)};
      return std::nullopt;
    });
  }

  /// Adds a rule written as code that throws std::invalid_argument (a
  /// stage's constructor checks, moved out of it): its message is the
  /// reason, reported at the whole table.
  spec_builder& validate(std::function<void(const Options&)> rule) {
    return check([rule = std::move(rule)](const Options& o)
                   -> std::optional<option_problem> {
      try {
        rule(o);
      } catch (const std::invalid_argument& e) {
        return option_problem{"", e.what()};
      }
      return std::nullopt;
    });
  }

  /// The first problem the rules find in `o`, or nothing; `given` are the
  /// options `o` was decoded from.
  std::optional<option_problem> problem(const Options& o,
                                        const option_map& given = {}) const {
    for (auto& rule : rules_)
      if (auto p = rule(o, given))
        return p;
    return std::nullopt;
  }

  /// The same, for a stage's constructor: throws std::invalid_argument with
  /// the reason, so code that builds a stage directly gets the rules too.
  void enforce(const Options& o) const {
    if (auto p = problem(o))
      throw std::invalid_argument(p->reason);
  }

  /// Adds options declared elsewhere (a group several tables share), each
  /// filling `member` through `set`.
  spec_builder& option(option_spec opt,
                       std::function<void(Options&, const option_value&)> set) {
    add(std::move(opt), std::move(set));
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

  /// A list of strings (option_type::list), filling a vector member.
  spec_builder& strings(std::string name,
                        std::vector<std::string> Options::*member,
                        std::vector<std::string> def, std::string doc) {
    option_spec o{std::move(name), option_type::list, string_list(def), {},
                  {}, {}, std::move(doc)};
    o.item = option_type::string;
    add(std::move(o), [member](Options& opts, const option_value& v) {
      // An empty list may come as either type (a recipe's `[]`).
      auto items = std::get_if<string_list>(&v);
      opts.*member = items ? *items : string_list{};
    });
    return *this;
  }

  /// A list of integers between `min` and `max`, filling a vector member.
  spec_builder& integers(std::string name, std::vector<int> Options::*member,
                         std::vector<int> def, int min, int max,
                         std::string doc) {
    option_spec o{std::move(name), option_type::list,
                  integer_list(def.begin(), def.end()), double(min),
                  double(max), {}, std::move(doc)};
    o.item = option_type::integer;
    add(std::move(o), [member](Options& opts, const option_value& v) {
      auto items = std::get_if<integer_list>(&v);
      opts.*member = items ? std::vector<int>(items->begin(), items->end())
                           : std::vector<int>{};
    });
    return *this;
  }

  /// The list added last takes from `min` to `max` items
  /// (option_spec::min_items, max_items).
  spec_builder& items(std::size_t min, std::optional<std::size_t> max = {}) {
    spec_.options.back().min_items = min;
    spec_.options.back().max_items = max;
    return *this;
  }

  /// No item of the list added last may be in it twice.
  spec_builder& unique() {
    spec_.options.back().unique_items = true;
    return *this;
  }

  /// The string option, or each string of the list, added last must also
  /// pass `check` (option_spec::check_text).
  spec_builder& each(text_check check) {
    spec_.options.back().check_text = std::move(check);
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

  /// Sets in `o` only the options `values` gives; the others keep what `o`
  /// holds.
  void apply(Options& o, const option_map& values) const {
    for (size_t i = 0; i < spec_.options.size(); ++i)
      if (auto it = values.find(spec_.options[i].name); it != values.end())
        setters_[i](o, it->second);
  }

  /// The spec of a stage that has no factory (loader, writer).
  stage_spec spec() const {
    auto result = spec_;
    if (!rules_.empty()) {
      auto self = *this;
      result.rules = [self](const option_map& values) {
        return self.problem(self.decode(values), values);
      };
    }
    return result;
  }

  /// The spec of a filter stage built as `Stage(Options)`.
  template <class Stage>
  stage_spec filter() const {
    auto result = spec();
    auto self = *this;
    result.make = [self, checked = result](const option_map& values)
      -> std::unique_ptr<stage> {
      if (auto p = check_rules(checked, values))
        throw std::invalid_argument(p->reason);
      return std::make_unique<Stage>(self.decode(values));
    };
    return result;
  }

private:
  using setter = std::function<void(Options&, const option_value&)>;

  /// A condition on `option`, which must be a choice declared before and
  /// take `values`: a mistake in a declaration fails at start-up, not as a
  /// condition that never holds.
  option_condition condition(std::string option,
                             std::vector<std::string> values) const {
    auto on = spec_.find(option);
    if (!on || on->type != option_type::choice)
      throw std::logic_error(
        fmt::format("{}: a condition on '{}', which is not a choice declared "
                    "before",
                    spec_.name, option));
    for (auto& v : values)
      if (std::find(on->choices.begin(), on->choices.end(), v)
          == on->choices.end())
        throw std::logic_error(fmt::format(
          "{}: '{}' has no choice \"{}\"", spec_.name, option, v));
    return option_condition{std::move(option), std::move(values)};
  }

  void add(option_spec opt, setter set) {
    spec_.options.push_back(std::move(opt));
    setters_.push_back(std::move(set));
  }

  stage_spec spec_;
  std::vector<setter> setters_;
  std::vector<std::function<std::optional<option_problem>(
    const Options&, const option_map&)>>
    rules_;
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
