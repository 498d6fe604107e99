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
  }
  return "?";
}

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
    default:
      return "a string";
  }
}

std::optional<std::string> check_range(const option_spec& spec, double x) {
  if ((spec.min && x < *spec.min) || (spec.max && x > *spec.max))
    return fmt::format("option '{}' must be between {} and {}, got {}",
                       spec.name, spec.min.value_or(-INFINITY),
                       spec.max.value_or(INFINITY), x);
  return std::nullopt;
}

} // namespace

std::variant<option_value, std::string> check_option(const option_spec& spec,
                                                     const option_value& v) {
  auto wrong_type = [&] {
    return fmt::format("option '{}' must be {}, got {}", spec.name,
                       spec.type == option_type::choice
                         ? std::string{"a string"}
                         : type_of(spec.default_value),
                       type_of(v));
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
        return *err;
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
        return fmt::format("option '{}' must be a finite number", spec.name);
      if (auto err = check_range(spec, x))
        return *err;
      return option_value{x};
    }
    case option_type::string:
      if (!std::holds_alternative<std::string>(v))
        return wrong_type();
      return v;
    case option_type::choice: {
      auto s = std::get_if<std::string>(&v);
      if (!s)
        return wrong_type();
      if (std::find(spec.choices.begin(), spec.choices.end(), *s)
          == spec.choices.end())
        return fmt::format("option '{}' must be one of {}, got \"{}\"",
                           spec.name, fmt::join(spec.choices, ", "), *s);
      return v;
    }
  }
  return wrong_type();
}

const std::vector<option_spec>& placement_options() {
  static const std::vector<option_spec> options = [] {
    option_spec workers{"workers", option_type::integer, std::int64_t{1},
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
    workers.type_text = "integer or table";
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

/// Missing, or an empty string.
bool missing(const option_map& given, const std::string& name) {
  auto it = given.find(name);
  if (it == given.end())
    return true;
  auto s = std::get_if<std::string>(&it->second);
  return s && s->empty();
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
