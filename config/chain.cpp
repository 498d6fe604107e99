#include "config/chain.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "pipeline/naming.hpp"
#include "pipeline/registry.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
         || c == '\v';
}

/// Terminal columns of UTF-8 text, so carets line up under non-ASCII names.
std::size_t columns(std::string_view text) {
  return std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  });
}

std::string render(const std::string& chain, std::size_t offset,
                   const std::string& word, const std::string& reason) {
  std::string echo = chain;
  // A tab or newline would break the alignment of the carets.
  std::replace_if(echo.begin(), echo.end(), is_space, ' ');
  offset = std::min(offset, chain.size());
  auto indent = columns(std::string_view{chain}.substr(0, offset));
  auto width = std::max<std::size_t>(1, columns(word));
  return fmt::format("--chain: {}\n  {}\n  {}{}", reason, echo,
                     std::string(indent, ' '), std::string(width, '^'));
}

} // namespace

chain_error::chain_error(const std::string& chain, std::size_t offset,
                         std::string word, const std::string& reason)
  : std::runtime_error(render(chain, offset, word, reason)),
    offset_(offset),
    word_(std::move(word)),
    reason_(reason) {
}

namespace {

/// A `!` or a word: a stage name or `key=value`, its quotes removed.
struct token {
  bool bang = false;
  std::string text;
  std::size_t offset = 0;
  std::size_t length = 0;
  /// Where the first unquoted '=' is: in `text`, and in the chain.
  std::size_t eq = std::string::npos;
  std::size_t raw_eq = 0;
  /// A quote after the '=': the value is a string whatever it looks like.
  bool quoted_value = false;
};

std::vector<token> tokenize(const std::string& chain) {
  std::vector<token> result;
  std::size_t i = 0;
  auto n = chain.size();
  while (i < n) {
    if (is_space(chain[i])) {
      ++i;
      continue;
    }
    token t;
    t.offset = i;
    if (chain[i] == '!') {
      t.bang = true;
      t.text = "!";
      ++i;
    } else {
      while (i < n && !is_space(chain[i]) && chain[i] != '!') {
        char c = chain[i];
        if (c == '\'' || c == '"') {
          auto close = chain.find(c, i + 1);
          if (close == std::string::npos)
            throw chain_error(chain, t.offset, chain.substr(t.offset),
                              fmt::format("unterminated quote: the {} in "
                                          "this word is never closed",
                                          c));
          t.text.append(chain, i + 1, close - i - 1);
          if (t.eq != std::string::npos)
            t.quoted_value = true;
          i = close + 1;
          continue;
        }
        if (c == '=' && t.eq == std::string::npos) {
          t.eq = t.text.size();
          t.raw_eq = i;
        }
        t.text += c;
        ++i;
      }
    }
    t.length = i - t.offset;
    result.push_back(std::move(t));
  }
  return result;
}

/// One element: a stage name and its `key=value` words.
struct element {
  token name;
  std::vector<token> options;
};

/// Moves `i` past the digits at `i`; false when there are none.
bool skip_digits(std::string_view s, std::size_t& i) {
  auto start = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9')
    ++i;
  return i > start;
}

enum class literal_kind { integer, decimal, other };

/// What an unquoted value looks like: `-12`, `0.5`, `1e-3`, or neither.
literal_kind kind_of(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-'))
    ++i;
  bool whole = skip_digits(s, i);
  bool fraction = false;
  bool point = false;
  if (i < s.size() && s[i] == '.') {
    point = true;
    ++i;
    fraction = skip_digits(s, i);
  }
  if (!whole && !fraction)
    return literal_kind::other;
  bool exponent = false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-'))
      ++i;
    if (!skip_digits(s, i))
      return literal_kind::other;
    exponent = true;
  }
  if (i != s.size())
    return literal_kind::other;
  return point || exponent ? literal_kind::decimal : literal_kind::integer;
}

class chain_parser {
public:
  chain_parser(const std::string& chain, const stage_registry& registry)
    : chain_(chain), registry_(registry) {
  }

  void apply(pipeline_config& config) {
    auto elements = split(tokenize(chain_));
    std::vector<filter_section> filters;
    // Sinks the chain names; the filters met since the last save belong to
    // the next sink once a first save has been seen.
    std::vector<sink_section> sinks;
    std::vector<filter_section> pending;
    for (std::size_t i = 0; i < elements.size(); ++i) {
      auto& e = elements[i];
      auto& name = e.name.text;
      if (name == "load" || name == "commit")
        fail(e.name,
             fmt::format("stage '{}' cannot be in a chain: the pipeline "
                         "places it ({}); its settings go in {}",
                         name, name == "load" ? "always first" : "always last",
                         *pipeline_stage_settings(name)));
      if (name == "save") {
        // The chain's n-th save builds on the config's n-th sink (or its
        // first one, for path and defaults), without that sink's filters.
        auto sink = sinks.size() < config.sinks.size()
                      ? config.sinks[sinks.size()]
                      : config.sink();
        if (sinks.size() >= config.sinks.size())
          sink.filters.clear();
        read_save(e, sink);
        if (!pending.empty())
          sink.filters = std::move(pending);
        pending.clear();
        sinks.push_back(std::move(sink));
        continue;
      }
      (sinks.empty() ? filters : pending).push_back(read_filter(e));
    }
    if (!pending.empty())
      fail(elements.back().name,
           "the chain ends with a filter after 'save': end it with another "
           "'save' to write that branch");
    config.filters = std::move(filters);
    if (!sinks.empty())
      config.sinks = std::move(sinks);
  }

private:
  [[noreturn]] void fail(std::size_t offset, std::string word,
                         const std::string& reason) const {
    throw chain_error(chain_, offset, std::move(word), reason);
  }

  [[noreturn]] void fail(const token& t, const std::string& reason) const {
    fail(t.offset, chain_.substr(t.offset, t.length), reason);
  }

  [[noreturn]] void fail_key(const token& t, const std::string& reason) const {
    fail(t.offset, chain_.substr(t.offset, t.raw_eq - t.offset), reason);
  }

  [[noreturn]] void fail_value(const token& t,
                               const std::string& reason) const {
    auto start = t.raw_eq + 1;
    fail(start, chain_.substr(start, t.offset + t.length - start), reason);
  }

  std::vector<element> split(const std::vector<token>& tokens) const {
    if (tokens.empty())
      fail(0, "", "the chain is empty; name at least one stage, e.g. "
                  "'thumbnail width=256'");
    std::vector<element> result;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      auto& t = tokens[i];
      if (t.bang) {
        if (i == 0)
          fail(t, "the chain starts with '!'; it must start with a stage name");
        if (tokens[i - 1].bang)
          fail(t, "empty element: a stage name must come between two '!'");
        if (i + 1 == tokens.size())
          fail(t, "the chain ends with '!'; a stage name must follow it");
        continue;
      }
      if (i == 0 || tokens[i - 1].bang) {
        if (t.eq != std::string::npos)
          fail(t, fmt::format("expected a stage name, got option '{}'{}",
                              chain_.substr(t.offset, t.length),
                              i == 0 ? "" : " (a stage name missing after "
                                            "'!'?)"));
        result.push_back({t, {}});
      } else {
        result.back().options.push_back(t);
      }
    }
    return result;
  }

  filter_section read_filter(const element& e) const {
    auto& name = e.name.text;
    auto spec = registry_.find(name);
    if (!spec) {
      auto names = filter_names();
      names.push_back("save");
      auto hint = closest(name, names);
      fail(e.name, hint ? fmt::format("unknown stage '{}' (did you mean "
                                      "'{}'?)",
                                      name, *hint)
                        : fmt::format("unknown stage '{}' (stages: {})", name,
                                      fmt::join(names, ", ")));
    }
    if (!spec->make)
      fail(e.name,
           fmt::format("stage '{}' cannot be in a chain: it has no factory",
                       name));
    filter_section f;
    f.type = name;
    f.where = {"--chain", 1, int(e.name.offset) + 1};
    read_options(e, *spec, f.options, f.workers, f.max_in_flight);
    // Rules between options, as for a [[filter]] table: nothing is built.
    if (auto problem = check_rules(*spec, f.options))
      fail(e.name, fmt::format("stage '{}': {}", name,
                               without_prefix(problem->reason, name)));
    return f;
  }

  void read_save(const element& e, sink_section& sink) const {
    stage_spec save;
    save.name = "save";
    if (auto spec = registry_.find("save"))
      save = *spec;
    option_map options;
    int workers = 0;
    int max_in_flight = 0;
    read_options(e, save, options, workers, max_in_flight);
    for (auto& [key, value] : options)
      sink.options[key] = value;
    // As for a [sink] table: an option of another format is a mistake.
    if (auto problem = check_rules(save, sink.options))
      fail(e.name, fmt::format("stage 'save': {}", problem->reason));
    if (workers != 0)
      sink.workers = workers;
    if (max_in_flight != 0)
      sink.max_in_flight = max_in_flight;
    sink.where = {"--chain", 1, int(e.name.offset) + 1};
  }

  void read_options(const element& e, const stage_spec& spec,
                    option_map& options, int& workers,
                    int& max_in_flight) const {
    std::vector<std::string> seen;
    for (auto& t : e.options) {
      if (t.eq == std::string::npos)
        missing_equals(e, spec, t);
      auto key = t.text.substr(0, t.eq);
      auto text = t.text.substr(t.eq + 1);
      if (key.empty())
        fail(t, "an option name must come before '='");
      if (text.empty() && !t.quoted_value)
        fail(t, fmt::format("option '{}' has no value (write {}=VALUE; "
                            "{}=\"\" for an empty text)",
                            key, key, key));
      if (std::find(seen.begin(), seen.end(), key) != seen.end())
        fail_key(t, fmt::format("option '{}' is given twice", key));
      seen.push_back(key);
      if (key == "workers") {
        // A chain places workers on this machine only: a count.
        auto count = placement_options()[0];
        count.type = option_type::integer;
        workers = int(std::get<std::int64_t>(checked(t, count, text)));
      } else if (key == "max_in_flight") {
        max_in_flight = int(std::get<std::int64_t>(
          checked(t, placement_options()[1], text)));
      } else if (auto opt = spec.find(key)) {
        auto value = checked(t, *opt, text);
        if (spec.name == "save" && key == "naming")
          if (auto err = check_name_template(std::get<std::string>(value)))
            fail_value(t, fmt::format("option 'naming': {}", *err));
        options[key] = std::move(value);
      } else {
        unknown_option(spec, t, key);
      }
    }
  }

  [[noreturn]] void missing_equals(const element& e, const stage_spec& spec,
                                   const token& t) const {
    auto& word = t.text;
    if (registry_.find(word) || pipeline_stage_settings(word))
      fail(t, fmt::format("expected key=value, got '{}' (a '!' missing "
                          "before stage '{}'?)",
                          word, word));
    if (spec.find(word) || word == "workers" || word == "max_in_flight")
      fail(t, fmt::format("option '{}' needs a value: write {}=VALUE", word,
                          word));
    fail(t, fmt::format("expected key=value after stage '{}', got '{}'",
                        e.name.text, word));
  }

  [[noreturn]] void unknown_option(const stage_spec& spec, const token& t,
                                   const std::string& key) const {
    std::vector<std::string> names;
    for (auto& o : spec.options)
      names.push_back(o.name);
    auto candidates = names;
    for (auto& o : placement_options())
      candidates.push_back(o.name);
    auto hint = closest(key, candidates);
    fail_key(t, hint ? fmt::format("stage '{}' has no option '{}' (did you "
                                   "mean '{}'?)",
                                   spec.name, key, *hint)
                     : fmt::format("stage '{}' has no option '{}' (options: "
                                   "{}; and workers, max_in_flight)",
                                   spec.name, key,
                                   names.empty()
                                     ? std::string{"none"}
                                     : fmt::format("{}",
                                                   fmt::join(names, ", "))));
  }

  /// The value `text` stands for, checked and converted by `spec`.
  option_value checked(const token& t, const option_spec& spec,
                       const std::string& text) const {
    auto raw = value_of(t, spec, text);
    auto result = check_option(spec, raw);
    if (auto err = std::get_if<std::string>(&result)) {
      auto reason = *err;
      if (spec.type == option_type::choice)
        if (auto s = std::get_if<std::string>(&raw))
          if (auto hint = closest(*s, spec.choices))
            reason += fmt::format(" (did you mean '{}'?)", *hint);
      fail_value(t, reason);
    }
    return std::get<option_value>(std::move(result));
  }

  option_value value_of(const token& t, const option_spec& spec,
                        const std::string& text) const {
    // A text option takes the word as written, so `path=2024` needs no
    // quotes; the shell has already used up one level of them.
    if (t.quoted_value || spec.type == option_type::string
        || spec.type == option_type::choice)
      return text;
    if (text == "true")
      return true;
    if (text == "false")
      return false;
    auto kind = kind_of(text);
    if (kind == literal_kind::other)
      return text;
    auto first = text.data() + (text.front() == '+' ? 1 : 0);
    auto last = text.data() + text.size();
    if (kind == literal_kind::integer) {
      std::int64_t i = 0;
      auto [end, ec] = std::from_chars(first, last, i);
      if (ec != std::errc{} || end != last)
        fail_value(t, fmt::format("option '{}': integer {} is out of range",
                                  spec.name, text));
      return i;
    }
    double d = 0;
    auto [end, ec] = std::from_chars(first, last, d);
    if (ec != std::errc{} || end != last)
      fail_value(t, fmt::format("option '{}': number {} is out of range",
                                spec.name, text));
    return d;
  }

  /// Stages an element may name besides save.
  std::vector<std::string> filter_names() const {
    return registry_.filter_names();
  }

  const std::string& chain_;
  const stage_registry& registry_;
};

} // namespace

void apply_chain(const std::string& chain, pipeline_config& config,
                 const stage_registry& registry) {
  chain_parser{chain, registry}.apply(config);
  check_sinks_against_source(config);
}

} // namespace pixline
