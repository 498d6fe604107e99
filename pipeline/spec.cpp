#include "pipeline/spec.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

#include <fmt/format.h>

namespace pixline {

std::string to_string(option_type t) {
  switch (t) {
    case option_type::boolean:
      return "boolean";
    case option_type::integer:
      return "integer";
    case option_type::number:
      return "number";
    case option_type::string:
      return "string";
    case option_type::choice:
      return "choice";
    case option_type::list:
      return "list";
    case option_type::placement:
      return "placement";
  }
  return "?";
}

namespace {

/// A table key as TOML writes it: bare when it can be.
std::string toml_key(const std::string& key) {
  bool bare = !key.empty()
              && std::all_of(key.begin(), key.end(), [](unsigned char c) {
                   return std::isalnum(c) || c == '_' || c == '-';
                 });
  return bare ? key : fmt::format("\"{}\"", key);
}

} // namespace

std::string to_string(const option_value& v) {
  struct visitor {
    std::string operator()(bool x) const {
      return x ? "true" : "false";
    }
    std::string operator()(std::int64_t x) const {
      return std::to_string(x);
    }
    std::string operator()(double x) const {
      return fmt::format("{}", x);
    }
    std::string operator()(const std::string& x) const {
      return fmt::format("\"{}\"", x);
    }
    std::string operator()(const string_list& x) const {
      std::vector<std::string> items;
      for (auto& s : x)
        items.push_back((*this)(s));
      return fmt::format("[{}]", fmt::join(items, ", "));
    }
    std::string operator()(const integer_list& x) const {
      return fmt::format("[{}]", fmt::join(x, ", "));
    }
    std::string operator()(const integer_table& x) const {
      std::vector<std::string> entries;
      for (auto& [key, n] : x)
        entries.push_back(fmt::format("{} = {}", toml_key(key), n));
      return entries.empty() ? "{}"
                             : fmt::format("{{ {} }}", fmt::join(entries, ", "));
    }
  };
  return std::visit(visitor{}, v);
}

const option_spec* stage_spec::find(const std::string& key) const {
  auto it = std::find_if(options.begin(), options.end(),
                         [&](const option_spec& o) { return o.name == key; });
  return it == options.end() ? nullptr : &*it;
}

bool option_spec::is_builtin_name(const std::string& value) const {
  return std::any_of(builtin_names.begin(), builtin_names.end(),
                     [&](const std::string& name) {
                       return name.size() == value.size()
                              && std::equal(name.begin(), name.end(),
                                            value.begin(), [](char a, char b) {
                                              return std::tolower(
                                                       (unsigned char)a)
                                                     == std::tolower(
                                                       (unsigned char)b);
                                            });
                     });
}

namespace {

std::string type_of(const option_value& v) {
  switch (v.index()) {
    case 0:
      return "a boolean";
    case 1:
      return "an integer";
    case 2:
      return "a number";
    case 3:
      return "a string";
    case 4:
      return "an array of strings";
    case 5:
      return "an array of integers";
    default:
      return "a table";
  }
}

/// What an option of `spec`'s type is, with an article ("an integer").
std::string a_type(const option_spec& spec) {
  switch (spec.type) {
    case option_type::boolean:
      return "a boolean";
    case option_type::integer:
      return "an integer";
    case option_type::number:
      return "a number";
    case option_type::string:
    case option_type::choice:
      return "a string";
    case option_type::list:
      return spec.item == option_type::integer ? "an array of integers"
             : spec.item == option_type::number ? "an array of numbers"
                                                : "an array of strings";
    case option_type::placement:
      return "an integer or a table";
  }
  return "?";
}

/// `text` with the subject `option 'NAME'` it starts with replaced by
/// `subject`.
std::string about(std::string text, const std::string& name,
                  const std::string& subject) {
  auto prefix = fmt::format("option '{}'", name);
  if (text.rfind(prefix, 0) == 0)
    text.replace(0, prefix.size(), subject);
  return text;
}

bool has_nul(const std::string& text) {
  return text.find('\0') != std::string::npos;
}

std::optional<std::string> check_range(const option_spec& spec, double x) {
  if ((spec.min && x < *spec.min) || (spec.max && x > *spec.max))
    return fmt::format("option '{}' must be between {} and {}, got {}",
                       spec.name, spec.min.value_or(-INFINITY),
                       spec.max.value_or(INFINITY), x);
  return std::nullopt;
}

} // namespace

std::string type_name(const option_spec& opt) {
  switch (opt.type) {
    case option_type::list: {
      auto item = opt.item == option_type::choice ? std::string{"choices"}
                  : opt.item == option_type::integer
                    ? std::string{"integers"}
                  : opt.item == option_type::number ? std::string{"numbers"}
                                                    : std::string{"strings"};
      return "array of " + item;
    }
    case option_type::placement:
      return "integer or table";
    default:
      return to_string(opt.type);
  }
}

std::optional<std::string> path_problem(const std::string& text) {
  if (text.empty())
    return "must not be empty";
  if (has_nul(text))
    return "must not hold a NUL character";
  return std::nullopt;
}

std::optional<std::string> pattern_problem(const std::string& text) {
  if (text.empty())
    return "must not be empty (an empty pattern matches no file)";
  if (has_nul(text))
    return "must not hold a NUL character";
  // fnmatch(3) takes an unclosed `[` as itself; here it is a typo.
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
      continue;
    }
    if (text[i] != '[')
      continue;
    size_t j = i + 1;
    if (j < text.size() && (text[j] == '!' || text[j] == '^'))
      ++j;
    if (j < text.size() && text[j] == ']')
      ++j; // a `]` first in the class is one of its characters
    while (j < text.size() && text[j] != ']')
      ++j;
    if (j >= text.size())
      return fmt::format("has a '[' without its ']' in \"{}\" (write [[] "
                         "for a literal '[')",
                         text);
    i = j;
  }
  return std::nullopt;
}

worker_placement placement_of(const option_value& value) {
  worker_placement result;
  if (auto n = std::get_if<std::int64_t>(&value)) {
    result.local = int(*n);
    return result;
  }
  for (auto& [key, n] : std::get<integer_table>(value)) {
    if (key == "local")
      result.local = int(n);
    else
      result.nodes.emplace_back(key, int(n));
  }
  return result;
}

namespace {

std::variant<option_value, value_error>
check_list(const option_spec& spec, const option_value& v);

std::variant<option_value, value_error>
check_placement(const option_spec& spec, const option_value& v);

} // namespace

std::variant<option_value, std::string> check_option(const option_spec& spec,
                                                     const option_value& v) {
  auto result = check_value(spec, v);
  if (auto err = std::get_if<value_error>(&result))
    return std::move(err->reason);
  return std::get<option_value>(std::move(result));
}

std::variant<option_value, value_error> check_value(const option_spec& spec,
                                                     const option_value& v) {
  auto wrong_type = [&] {
    return value_error{fmt::format("option '{}' must be {}, got {}",
                                    spec.name, a_type(spec), type_of(v))};
  };
  auto text_ok = [&]() -> std::optional<value_error> {
    if (spec.check_text)
      if (auto why = spec.check_text(std::get<std::string>(v)))
        return value_error{fmt::format("option '{}' {}", spec.name, *why)};
    return std::nullopt;
  };
  switch (spec.type) {
    case option_type::boolean:
      if (!std::holds_alternative<bool>(v))
        return wrong_type();
      return v;
    case option_type::integer: {
      if (!std::holds_alternative<std::int64_t>(v))
        return wrong_type();
      if (auto err = check_range(spec, double(std::get<std::int64_t>(v))))
        return value_error{*err};
      return v;
    }
    case option_type::number: {
      double x;
      if (auto p = std::get_if<std::int64_t>(&v))
        x = double(*p);
      else if (auto q = std::get_if<double>(&v))
        x = *q;
      else
        return wrong_type();
      if (!std::isfinite(x))
        return value_error{
          fmt::format("option '{}' must be a finite number", spec.name)};
      if (auto err = check_range(spec, x))
        return value_error{*err};
      return option_value{x};
    }
    case option_type::string:
      if (!std::holds_alternative<std::string>(v))
        return wrong_type();
      if (auto err = text_ok())
        return *err;
      return v;
    case option_type::choice: {
      auto s = std::get_if<std::string>(&v);
      if (!s)
        return wrong_type();
      if (std::find(spec.choices.begin(), spec.choices.end(), *s)
          == spec.choices.end())
        return value_error{
          fmt::format("option '{}' must be one of {}, got \"{}\"", spec.name,
                      fmt::join(spec.choices, ", "), *s)};
      return v;
    }
    case option_type::list:
      if (!std::holds_alternative<string_list>(v)
          && !std::holds_alternative<integer_list>(v))
        return wrong_type();
      return check_list(spec, v);
    case option_type::placement:
      if (!std::holds_alternative<std::int64_t>(v)
          && !std::holds_alternative<integer_table>(v))
        return wrong_type();
      return check_placement(spec, v);
  }
  return wrong_type();
}

namespace {

std::string items_word(std::size_t n) {
  return n == 1 ? "1 item" : fmt::format("{} items", n);
}

std::variant<option_value, value_error>
check_list(const option_spec& spec, const option_value& v) {
  auto strings = std::get_if<string_list>(&v);
  auto integers = std::get_if<integer_list>(&v);
  auto count = strings ? strings->size() : integers->size();
  bool want_integers = spec.item == option_type::integer;
  if (count < spec.min_items)
    return value_error{
      spec.min_items == 1
        ? fmt::format("option '{}' is empty: it needs at least one item",
                      spec.name)
        : fmt::format("option '{}' needs at least {}, got {}", spec.name,
                      items_word(spec.min_items), count)};
  if (spec.max_items && count > *spec.max_items)
    return value_error{fmt::format("option '{}' takes at most {}, got {}",
                                    spec.name, items_word(*spec.max_items),
                                    count),
                        *spec.max_items};
  // One item as an option of its own, whose messages then name the item.
  option_spec item{spec.name,  spec.item,   {},           spec.min,
                   spec.max,   spec.choices, {}};
  item.check_text = spec.check_text;
  auto at = [&](std::size_t i, const std::string& reason) {
    return value_error{about(reason, spec.name,
                              fmt::format("item {} of option '{}'", i + 1,
                                          spec.name)),
                        i};
  };
  auto each = [&](auto& items, auto result) -> std::variant<option_value,
                                                            value_error> {
    for (std::size_t i = 0; i < items.size(); ++i) {
      auto checked = check_value(item, option_value{items[i]});
      if (auto err = std::get_if<value_error>(&checked))
        return at(i, err->reason);
      if (spec.unique_items)
        for (std::size_t j = 0; j < i; ++j)
          if (items[j] == items[i])
            return value_error{fmt::format("option '{}' has {} twice",
                                            spec.name,
                                            to_string(option_value{items[i]})),
                                i};
      result.push_back(items[i]);
    }
    return option_value{std::move(result)};
  };
  if (count == 0)
    return want_integers ? option_value{integer_list{}}
                         : option_value{string_list{}};
  if (want_integers && strings)
    return at(0, fmt::format("option '{}' must be an integer, got a string",
                             spec.name));
  if (!want_integers && integers)
    return at(0, fmt::format("option '{}' must be a string, got an integer",
                             spec.name));
  if (strings)
    return each(*strings, string_list{});
  return each(*integers, integer_list{});
}

std::variant<option_value, value_error>
check_placement(const option_spec& spec, const option_value& v) {
  if (std::holds_alternative<std::int64_t>(v)) {
    option_spec count = spec;
    count.type = option_type::integer;
    return check_value(count, v);
  }
  auto& table = std::get<integer_table>(v);
  std::int64_t total = 0;
  for (std::size_t i = 0; i < table.size(); ++i) {
    auto& [key, n] = table[i];
    // `local` may be 0: every worker is then on a node.
    double min = key == "local" ? 0.0 : spec.min.value_or(1.0);
    double max = spec.max.value_or(INFINITY);
    if (double(n) < min || double(n) > max)
      return value_error{fmt::format("option '{}': '{}' must be between {} "
                                      "and {}, got {}",
                                      spec.name, key, min, max, n),
                          i};
    for (std::size_t j = 0; j < i; ++j)
      if (table[j].first == key)
        return value_error{fmt::format("option '{}' names '{}' twice",
                                        spec.name, key),
                            i};
    total += n;
  }
  if (total == 0)
    return value_error{fmt::format("{} = {{ ... }} needs at least one "
                                    "worker (local = N, or NODE = N for a "
                                    "[[node]])",
                                    spec.name)};
  return v;
}

} // namespace

const std::vector<option_spec>& placement_options() {
  static const std::vector<option_spec> options = [] {
    option_spec workers{"workers", option_type::placement, std::int64_t{1},
                        1.0, 1024.0, {},
                        "How many workers run the stage: `N` on this "
                        "machine, or `{ local = N, NODE = M, ... }`, N here "
                        "(0 when `local` is left out) and M on each named "
                        "`[[node]]` ([distributed.md](distributed.md)); at "
                        "least one worker in all. A sink's own "
                        "`[[sink.filter]]`s run inside the save stage, so "
                        "they cannot be placed; place the sink. With several "
                        "`[[sink]]`s, a node gets the most workers any sink "
                        "gives it"};
    workers.default_text = "depends on the stage";
    option_spec budget{"max_in_flight", option_type::integer,
                       std::int64_t{1}, 1.0, 100000.0, {},
                       "Images the stage may hold at once"};
    budget.default_text = "2 x `workers`";
    return std::vector<option_spec>{workers, budget};
  }();
  return options;
}

namespace {

/// The value of choice option `name` in `given`, or its default.
std::string choice_in(const stage_spec& spec, const std::string& name,
                      const option_map& given) {
  auto it = given.find(name);
  const option_value* v = it != given.end() ? &it->second : nullptr;
  if (!v)
    if (auto o = spec.find(name))
      v = &o->default_value;
  auto s = v ? std::get_if<std::string>(v) : nullptr;
  return s ? *s : std::string{};
}

/// `kind = "a", "b" or "c"`.
std::string one_of(const option_condition& c) {
  std::string out = fmt::format("{} = ", c.option);
  for (size_t i = 0; i < c.values.size(); ++i) {
    if (i > 0)
      out += i + 1 == c.values.size() ? " or " : ", ";
    out += fmt::format("\"{}\"", c.values[i]);
  }
  return out;
}

/// Missing, an empty string or an empty list.
bool missing(const option_map& given, const std::string& name) {
  auto it = given.find(name);
  if (it == given.end())
    return true;
  if (auto s = std::get_if<std::string>(&it->second))
    return s->empty();
  if (auto l = std::get_if<string_list>(&it->second))
    return l->empty();
  if (auto l = std::get_if<integer_list>(&it->second))
    return l->empty();
  return false;
}

/// `kind = "a"`, `"b"` or `"c"`, in Markdown.
std::string one_of_markdown(const std::string& option,
                            const std::vector<std::string>& values) {
  std::string out = "`" + option + " = ";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0)
      out += i + 1 == values.size() ? " or `" : ", `";
    out += fmt::format("\"{}\"`", values[i]);
  }
  return out;
}

} // namespace

std::string conditions_markdown(const option_spec& opt) {
  std::vector<std::string> parts;
  auto required = opt.required_when;
  if (opt.only_when) {
    // Required with exactly the values it applies to: "only with ...;
    // required".
    std::vector<std::string> when;
    for (auto& c : required)
      if (c.option == opt.only_when->option)
        when.insert(when.end(), c.values.begin(), c.values.end());
    auto same = [](std::vector<std::string> a, std::vector<std::string> b) {
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      return a == b;
    };
    bool all = same(when, opt.only_when->values);
    if (all)
      required.erase(std::remove_if(required.begin(), required.end(),
                                    [&](const option_condition& c) {
                                      return c.option
                                             == opt.only_when->option;
                                    }),
                     required.end());
    parts.push_back(fmt::format(
      "Only with {}{}.",
      one_of_markdown(opt.only_when->option, opt.only_when->values),
      all ? "; required" : ""));
  }
  for (auto& c : required)
    parts.push_back(
      fmt::format("Required with {}.", one_of_markdown(c.option, c.values)));
  if (parts.empty())
    return {};
  return fmt::format("**{}**", fmt::join(parts, " "));
}

bool option_condition::holds(const stage_spec& spec,
                             const option_map& given) const {
  auto value = choice_in(spec, option, given);
  return std::find(values.begin(), values.end(), value) != values.end();
}

std::optional<option_problem> check_applies(const stage_spec& spec,
                                            const option_spec& opt,
                                            const option_map& values) {
  if (!opt.only_when || !values.count(opt.name)
      || opt.only_when->holds(spec, values))
    return std::nullopt;
  auto& c = *opt.only_when;
  auto value = choice_in(spec, c.option, values);
  auto here = values.count(c.option)
                ? fmt::format("here {} = \"{}\"", c.option, value)
                : fmt::format("{} is \"{}\" when not set", c.option, value);
  if (auto note = c.notes.find(value); note != c.notes.end())
    here += ": " + note->second;
  return option_problem{opt.name,
                        fmt::format("option '{}' is only for {} ({})",
                                    opt.name, one_of(c), here)};
}

std::optional<option_problem> check_rules(const stage_spec& spec,
                                          const option_map& values) {
  for (auto& o : spec.options)
    if (o.required && !values.count(o.name))
      return option_problem{"", o.required_text.empty()
                                  ? fmt::format("option '{}' is required",
                                                o.name)
                                  : o.required_text};
  for (auto& o : spec.options)
    if (auto p = check_applies(spec, o, values))
      return p;
  for (auto& o : spec.options)
    for (auto& c : o.required_when)
      if (c.holds(spec, values) && missing(values, o.name)) {
        auto reason = fmt::format(
          "{} with {} = \"{}\" needs '{}'", spec.name, c.option,
          choice_in(spec, c.option, values), o.name);
        if (!c.what.empty())
          reason += fmt::format(" ({})", c.what);
        return option_problem{values.count(c.option) ? c.option : "",
                              std::move(reason)};
      }
  if (spec.rules)
    return spec.rules(values);
  return std::nullopt;
}

std::optional<std::string> check_options(const stage_spec& spec,
                                         option_map& values) {
  for (auto& [key, value] : values) {
    auto opt = spec.find(key);
    if (!opt) {
      std::vector<std::string> names;
      for (auto& o : spec.options)
        names.push_back(o.name);
      return fmt::format("stage '{}' has no option '{}' (options: {})",
                         spec.name, key,
                         names.empty() ? std::string{"none"}
                                       : fmt::format("{}", fmt::join(names, ", ")));
    }
    auto checked = check_option(*opt, value);
    if (auto err = std::get_if<std::string>(&checked))
      return *err;
    value = std::get<option_value>(std::move(checked));
  }
  return std::nullopt;
}

} // namespace pixline
