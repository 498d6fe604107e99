#include "config/config.hpp"
#include "config/overrides.hpp"
#include "config/schema.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "pipeline/cpu_policy.hpp"
#include "pipeline/metrics.hpp"
#include "pipeline/naming.hpp"
#include "pipeline/registry.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

namespace {

std::string with_location(const source_location& where,
                          const std::string& reason) {
  if (where.file.empty())
    return reason;
  if (where.line <= 0)
    return fmt::format("{}: {}", where.file, reason);
  if (where.column <= 0)
    return fmt::format("{}:{}: {}", where.file, where.line, reason);
  return fmt::format("{}:{}:{}: {}", where.file, where.line, where.column,
                     reason);
}

} // namespace

config_error::config_error(source_location where, const std::string& what)
  : std::runtime_error(with_location(where, what)),
    where_(std::move(where)),
    reason_(what) {
}

namespace {

// -- did you mean ------------------------------------------------------------

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
}

/// Edit distance counting a swap of two neighbours as one edit ("qaulity").
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1,
                                     std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i)
    d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j)
    d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1,
                          d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2])
          && lower(a[i - 2]) == lower(b[j - 1]))
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

} // namespace

std::optional<std::string> closest(const std::string& word,
                                   const std::vector<std::string>& candidates) {
  size_t limit = std::max<size_t>(1, word.size() / 3);
  std::optional<std::string> best;
  size_t best_distance = limit + 1;
  for (auto& c : candidates) {
    auto d = edit_distance(word, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

std::string without_prefix(const std::string& reason,
                           const std::string& stage) {
  if (reason.rfind(stage + ": ", 0) == 0)
    return reason.substr(stage.size() + 2);
  return reason;
}

namespace {

std::string did_you_mean(const std::string& word,
                         const std::vector<std::string>& candidates) {
  if (auto c = closest(word, candidates))
    return fmt::format(" (did you mean '{}'?)", *c);
  return {};
}

/// True when two valid node addresses name the same host and port as
/// written (host names compared without case; "localhost" is 127.0.0.1).
bool same_endpoint(const std::string& a, const std::string& b) {
  auto key = [](const std::string& text) {
    auto parsed = std::get<listen_address>(parse_listen_address(text));
    std::string host = parsed.host;
    std::transform(host.begin(), host.end(), host.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    if (host == "localhost")
      host = "127.0.0.1";
    return std::pair{host, parsed.port};
  };
  return key(a) == key(b);
}

// -- TOML values -------------------------------------------------------------

std::string describe(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}

/// The option value a TOML scalar stands for; nothing for arrays, tables and
/// dates, which no option takes.
std::optional<option_value> scalar(const toml::node& n) {
  if (auto s = n.as_string())
    return option_value{s->get()};
  if (auto i = n.as_integer())
    return option_value{std::int64_t{i->get()}};
  if (auto f = n.as_floating_point())
    return option_value{f->get()};
  if (auto b = n.as_boolean())
    return option_value{b->get()};
  return std::nullopt;
}

using entry = std::pair<const toml::key*, const toml::node*>;

bool before(const toml::source_position& a, const toml::source_position& b) {
  return a.line != b.line ? a.line < b.line : a.column < b.column;
}

/// A table's entries in document order, so the first error reported is the
/// first one in the file (toml::table keeps its keys sorted by name).
std::vector<entry> in_order(const toml::table& t) {
  std::vector<entry> result;
  for (auto&& [k, v] : t)
    result.emplace_back(&k, &v);
  std::stable_sort(result.begin(), result.end(), [](auto& a, auto& b) {
    return before(a.first->source().begin, b.first->source().begin);
  });
  return result;
}

option_spec string_key(std::string name) {
  return {std::move(name), option_type::string, std::string{}, {}, {}, {}, {}};
}

const std::vector<std::string> top_level_keys = {
  "pipeline", "source", "filter", "sink", "metrics",
  "node",     "tls",    "plugins", "test"};
// Stage tables share these keys with the stage's own options.
const option_spec& workers_key() {
  return placement_options()[0];
}

const option_spec& max_in_flight_key() {
  return placement_options()[1];
}

// -- the reader --------------------------------------------------------------

class reader {
public:
  reader(std::string file, const stage_registry& registry)
    : file_(std::move(file)), registry_(registry) {
  }

  pipeline_config read(const toml::table& root) {
    pipeline_config config;
    config.file = file_;
    config.source.where = {file_, 0, 0};
    bool have_sink = false;
    for (auto [key, value] : in_order(root)) {
      std::string name{key->str()};
      if (name == "pipeline") {
        config.pipeline = read_pipeline(table_of(*key, *value));
      } else if (name == "source") {
        config.source = read_source(table_of(*key, *value));
      } else if (name == "filter") {
        config.filters = read_filters(
          *key, *value, "'filter' must be an array of tables (write "
                        "[[filter]] with two brackets)");
      } else if (name == "sink") {
        config.sinks = read_sinks(*key, *value);
        have_sink = true;
      } else if (name == "metrics") {
        config.metrics = read_metrics(table_of(*key, *value));
      } else if (name == "plugins") {
        for (auto& p : read_plugins(*key, *value))
          config.plugins.push_back(p.path);
      } else if (name == "node") {
        config.nodes = read_nodes(*key, *value);
      } else if (name == "tls") {
        config.tls = read_tls(table_of(*key, *value));
      } else if (name == "test") {
        // Fixture cases, read by `pixline test` (app/test_command.hpp).
      } else {
        unknown_top_level(*key, *value);
      }
    }
    if (!have_sink)
      fail(root.source(), "missing table [sink] (where and how to write the "
                          "images; `[sink]` alone writes to \"out\")");
    check_placements(config);
    check_sinks_against_source(config);
    return config;
  }

  /// `plugins = ["a.so", ...]`.
  std::vector<plugin_entry> read_plugins(const toml::key& key,
                                         const toml::node& value) const {
    auto array = value.as_array();
    if (!array)
      fail(key.source(), fmt::format("'plugins' must be an array of paths "
                                     "(plugins = [\"libmystage.so\"]), got {}",
                                     describe(value)));
    std::vector<plugin_entry> result;
    for (auto& item : *array) {
      auto path = item.value<std::string>();
      if (!path || path->empty())
        fail(item.source(), fmt::format("each plugin must be a non-empty "
                                        "path string, got {}",
                                        describe(item)));
      result.push_back({*path, at(item.source())});
    }
    return result;
  }

private:
  source_location at(const toml::source_region& r) const {
    // A value from `--set` names the override instead of a line.
    if (r.path && *r.path != file_)
      return {*r.path, 0, 0};
    return {file_, std::max(1, int(r.begin.line)),
            std::max(1, int(r.begin.column))};
  }

  [[noreturn]] void fail(const toml::source_region& r,
                         const std::string& reason) const {
    throw config_error(at(r), reason);
  }

  const toml::table& table_of(const toml::key& key,
                              const toml::node& value) const {
    auto table = value.as_table();
    if (!table)
      fail(key.source(),
           fmt::format("'{}' must be a table (write [{}]{}), got {}",
                       key.str(), key.str(),
                       value.is_array() ? ", with single brackets" : "",
                       describe(value)));
    return *table;
  }

  [[noreturn]] void unknown_top_level(const toml::key& key,
                                      const toml::node& value) const {
    std::string name{key.str()};
    auto hint = closest(name, top_level_keys);
    std::string reason
      = value.is_table() || value.is_array()
          ? fmt::format("unknown table [{}]", key.str())
          : fmt::format("unknown top-level key '{}'", key.str());
    if (hint)
      reason += fmt::format(" (did you mean [{}]?)",
                            *hint == "filter" ? "[filter]" : *hint);
    else
      reason += "; a config has the tables [pipeline], [source], [[filter]], "
                "[sink] and [metrics], and the key plugins";
    fail(key.source(), reason);
  }

  /// The raw value `value` gives for `spec`: a scalar, an array of the
  /// list's item type, or a placement's integer or table of integers.
  /// Errors point at the value, or at the item of the wrong type.
  option_value raw_value(const option_spec& spec,
                         const toml::node& value) const {
    auto wrong = [&](const std::string& what) {
      auto reason = fmt::format("option '{}' must be {}, got {}", spec.name,
                                what, describe(value));
      fail(value.source(), reason + override_hint(spec, value));
    };
    if (spec.type == option_type::list) {
      bool integers = spec.item == option_type::integer;
      auto array = value.as_array();
      if (!array)
        wrong(integers ? "an array of integers" : "an array of strings");
      string_list strings;
      integer_list numbers;
      for (std::size_t i = 0; i < array->size(); ++i) {
        auto& item = (*array)[i];
        auto s = item.as_string();
        auto n = item.as_integer();
        if (integers ? !n : !s)
          fail(item.source(),
               fmt::format("item {} of option '{}' must be {}, got {}", i + 1,
                           spec.name, integers ? "an integer" : "a string",
                           describe(item)));
        if (integers)
          numbers.push_back(n->get());
        else
          strings.push_back(s->get());
      }
      return integers ? option_value{numbers} : option_value{strings};
    }
    if (spec.type == option_type::placement) {
      if (auto table = value.as_table()) {
        integer_table entries;
        for (auto [key, n] : in_order(*table)) {
          auto count = n->as_integer();
          if (!count)
            fail(n->source(),
                 fmt::format("option '{}': '{}' must be an integer, got {}",
                             spec.name, key->str(), describe(*n)));
          entries.emplace_back(std::string{key->str()}, count->get());
        }
        return entries;
      }
      if (!value.is_integer())
        wrong("an integer (workers = 4) or a table (workers = { local = 2, "
              "NODE = 4 })");
    }
    auto raw = scalar(value);
    if (!raw)
      wrong(spec.type == option_type::boolean   ? "a boolean"
            : spec.type == option_type::integer ? "an integer"
            : spec.type == option_type::number  ? "a number"
                                                : "a string");
    return *raw;
  }

  /// How to write a list on the command line, when `value` is a `--set`
  /// string given for one: the shell took its quotes, or the user wrote
  /// a comma list.
  std::string override_hint(const option_spec& spec,
                            const toml::node& value) const {
    auto s = value.as_string();
    auto& path = value.source().path;
    if (spec.type != option_type::list || !s || !path || *path == file_)
      return {};
    auto set = path->substr(path->find(' ') + 1);
    auto option = set.substr(0, set.find('='));
    std::string text = s->get();
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
      text = text.substr(1, text.size() - 2);
    std::vector<std::string> items;
    std::size_t start = 0;
    while (start <= text.size()) {
      auto comma = text.find(',', start);
      auto part = text.substr(start, comma - start);
      auto first = part.find_first_not_of(" \t\"'");
      auto last = part.find_last_not_of(" \t\"'");
      if (first != std::string::npos)
        part = part.substr(first, last - first + 1);
      else
        part.clear();
      if (!part.empty())
        items.push_back(spec.item == option_type::integer
                          ? part
                          : fmt::format("\"{}\"", part));
      if (comma == std::string::npos)
        break;
      start = comma + 1;
    }
    return fmt::format("; on the command line a list is a TOML array, in "
                       "single quotes for the shell: --set '{}=[{}]'",
                       option, fmt::join(items, ", "));
  }

  int integer(const option_spec& spec, const toml::node& value) const {
    return int(std::get<std::int64_t>(checked(spec, value)));
  }

  std::string text(const std::string& name, const toml::node& value) const {
    return std::get<std::string>(checked(string_key(name), value));
  }

  /// Converts and checks `value` against `spec`; errors point at the
  /// value, or at the item of a list (the entry of a table) to blame.
  option_value checked(const option_spec& spec, const toml::node& value) const {
    auto raw = raw_value(spec, value);
    auto result = check_value(spec, raw);
    auto err = std::get_if<value_error>(&result);
    if (!err)
      return std::get<option_value>(std::move(result));
    auto reason = err->reason;
    const toml::node* at_node = &value;
    if (err->item) {
      if (auto array = value.as_array(); array && *err->item < array->size())
        at_node = &(*array)[*err->item];
      else if (auto table = value.as_table()) {
        auto entries = in_order(*table);
        if (*err->item < entries.size())
          at_node = entries[*err->item].second;
      }
    }
    auto choices = spec.type == option_type::choice
                   || (spec.type == option_type::list
                       && spec.item == option_type::choice);
    if (choices)
      if (auto s = at_node->as_string())
        reason += did_you_mean(s->get(), spec.choices);
    fail(at_node->source(), reason);
  }

  /// Reads `table` against `schema` into `out`: each key is checked
  /// against the schema's options (lists and placements included); any
  /// other key goes to `unknown`, or is an error with a "did you mean".
  /// Then the schema's rules, reported at the option they name or at the
  /// table.
  template <class Section>
  void read_table(
    const spec_builder<Section>& schema, const toml::table& table,
    Section& out,
    const std::function<void(const toml::key&, const toml::node&)>& unknown
    = {}) const {
    auto spec = schema.spec();
    option_map given;
    std::map<std::string, const toml::node*> values;
    for (auto [key, value] : in_order(table)) {
      std::string name{key->str()};
      if (auto opt = spec.find(name)) {
        given[name] = checked(*opt, *value);
        values[name] = value;
      } else if (unknown) {
        unknown(*key, *value);
      } else {
        fail(key->source(),
             fmt::format("{} has no key '{}'{}", spec.name, name,
                         unknown_hint(name, names_of(spec.options))));
      }
    }
    // An option given where its condition does not hold ([source]'s keys
    // of another kind), at the first such key in the file.
    for (auto [key, value] : in_order(table))
      if (auto opt = spec.find(std::string{key->str()}))
        if (auto problem = check_applies(spec, *opt, given))
          fail(key->source(), problem->reason);
    if (auto problem = check_rules(spec, given)) {
      auto at_value = values.find(problem->option);
      fail(at_value != values.end() ? at_value->second->source()
                                    : table.source(),
           problem->reason);
    }
    schema.apply(out, given);
  }

  static std::vector<std::string>
  names_of(const std::vector<option_spec>& options) {
    std::vector<std::string> names;
    for (auto& o : options)
      names.push_back(o.name);
    return names;
  }

  pipeline_section read_pipeline(const toml::table& table) const {
    pipeline_section p;
    read_table(pipeline_schema(), table, p);
    return p;
  }

  source_section read_source(const toml::table& table) const {
    source_section s;
    s.configured = true;
    s.where = at(table.source());
    auto load = stage_or_empty("load");
    auto schema = source_schema().spec();
    auto load_option = [&](const toml::key& key, const toml::node& value) {
      std::string name{key.str()};
      if (auto opt = load.find(name)) {
        s.load_options[name] = checked(*opt, value);
        return;
      }
      auto candidates = names_of(schema.options);
      for (auto& o : load.options)
        candidates.push_back(o.name);
      auto hint = closest(name, candidates);
      fail(key.source(),
           hint ? fmt::format("[source] has no key '{}' (did you mean "
                              "'{}'?)",
                              name, *hint)
                : fmt::format("[source] has no key '{}' (keys: {}; options "
                              "of stage 'load': {})",
                              name, fmt::join(names_of(schema.options), ", "),
                              option_names(load)));
    };
    read_table(source_schema(), table, s, load_option);
    if (auto workers = table.get("workers"))
      locate(s.remote, *workers);
    return s;
  }

  /// Sets where each remote placement of `remote`, read from `value`, was
  /// written: at its key.
  void locate(std::vector<remote_placement>& remote,
              const toml::node& value) const {
    auto table = value.as_table();
    for (auto& p : remote) {
      p.where = at(value.source());
      if (table)
        for (auto [key, n] : in_order(*table))
          if (key->str() == p.node)
            p.where = at(key->source());
    }
  }

  /// `workers = 4`, or `workers = { local = 2, a = 4 }`: local workers
  /// and workers per node (docs/distributed.md).
  void read_workers(const toml::node& value, int& local,
                    std::vector<remote_placement>& remote) const {
    auto p = placement_of(checked(workers_key(), value));
    local = p.local;
    remote = remote_placements(p);
    locate(remote, value);
  }

  std::vector<node_section> read_nodes(const toml::key& key,
                                       const toml::node& value) const {
    auto array = value.as_array();
    if (!array || !array->is_array_of_tables())
      fail(key.source(), fmt::format("'node' must be an array of tables "
                                     "(write [[node]] with two brackets), "
                                     "got {}",
                                     describe(value)));
    std::vector<node_section> nodes;
    for (auto& item : *array) {
      auto& table = *item.as_table();
      node_section n;
      n.where = at(table.source());
      read_table(node_schema(), table, n);
      for (auto& other : nodes)
        if (other.name == n.name)
          fail(table.get("name")->source(),
               fmt::format("a [[node]] named \"{}\" is already defined at "
                           "line {}",
                           n.name, other.where.line));
      // Two names for one node would run twice its workers there, each
      // set believing it has the machine to itself.
      for (auto& other : nodes)
        if (same_endpoint(other.address, n.address))
          fail(table.source(), fmt::format("[[node]] \"{}\" has the address "
                                           "{} of [[node]] \"{}\" (line {}): "
                                           "one node, one [[node]]",
                                           n.name, n.address, other.name,
                                           other.where.line));
      nodes.push_back(std::move(n));
    }
    return nodes;
  }

  tls_section read_tls(const toml::table& table) const {
    tls_section t;
    t.configured = true;
    t.where = at(table.source());
    read_table(tls_schema(), table, t);
    return t;
  }

  /// Every placement names a [[node]]; TLS nodes have [tls].
  void check_placements(const pipeline_config& config) const {
    std::vector<std::string> names;
    for (auto& n : config.nodes) {
      names.push_back(n.name);
      if (n.tls && !config.tls.configured)
        throw config_error(n.where,
                           fmt::format("node \"{}\" has tls = true but the "
                                       "config has no [tls] table",
                                       n.name));
    }
    auto check = [&](const std::vector<remote_placement>& remote) {
      for (auto& p : remote)
        if (std::find(names.begin(), names.end(), p.node) == names.end()) {
          auto hint = closest(p.node, names);
          throw config_error(
            p.where,
            hint ? fmt::format("no [[node]] named \"{}\" (did you mean "
                               "\"{}\"?)",
                               p.node, *hint)
                 : names.empty()
                     ? fmt::format("no [[node]] named \"{}\": the config "
                                   "defines no nodes ('local' counts this "
                                   "machine's workers)",
                                   p.node)
                     : fmt::format("no [[node]] named \"{}\" (nodes: {})",
                                   p.node, fmt::join(names, ", ")));
        }
    };
    check(config.source.remote);
    for (auto& f : config.filters)
      check(f.remote);
    for (auto& sink : config.sinks) {
      check(sink.remote);
      for (auto& f : sink.filters)
        if (!f.remote.empty())
          throw config_error(f.remote.front().where,
                             "a sink's own filters run inside its save "
                             "stage: place the sink's workers instead");
    }
  }

  metrics_section read_metrics(const toml::table& table) const {
    metrics_section m;
    m.configured = true;
    m.where = at(table.source());
    read_table(metrics_schema(), table, m);
    // Errors about the address (it cannot be bound) point at the value.
    if (auto listen = table.get("listen"))
      m.where = at(listen->source());
    return m;
  }

  filter_section read_filter(const toml::table& table) const {
    filter_section f;
    f.where = at(table.source());
    auto type = table.get("type");
    if (!type)
      fail(table.source(), fmt::format("[[filter]] needs a 'type' (one of: {})",
                                       fmt::join(filter_names(), ", ")));
    f.type = text("type", *type);
    auto spec = registry_.find(f.type);
    if (auto settings = pipeline_stage_settings(f.type))
      fail(type->source(),
           fmt::format("stage '{}' cannot be a [[filter]]: the pipeline "
                       "places it; its settings go in {}",
                       f.type, *settings));
    if (!spec) {
      auto names = filter_names();
      auto hint = closest(f.type, names);
      fail(type->source(),
           hint ? fmt::format("unknown stage type '{}' (did you mean '{}'?)",
                              f.type, *hint)
                : fmt::format("unknown stage type '{}' (stages: {})", f.type,
                              fmt::join(names, ", ")));
    }
    if (!spec->make)
      fail(type->source(),
           fmt::format("stage '{}' cannot be a [[filter]]: it has no factory",
                       f.type));
    for (auto [key, value] : in_order(table)) {
      std::string name{key->str()};
      if (name == "type")
        continue;
      if (name == "workers")
        read_workers(*value, f.workers, f.remote);
      else if (name == "max_in_flight")
        f.max_in_flight = integer(max_in_flight_key(), *value);
      else
        f.options[name] = stage_option(*spec, *key, *value,
                                       {"type", "workers", "max_in_flight"});
    }
    // Rules between options ("resize needs width, height or scale") are
    // the spec's: checked without building the stage or reading a file.
    if (auto problem = check_rules(*spec, f.options))
      fail(table.source(), fmt::format("filter '{}': {}", f.type,
                                       without_prefix(problem->reason,
                                                      f.type)));
    return f;
  }

  /// A `[[filter]]` array (top level or in a sink); `not_array` says how
  /// to write it when it is something else.
  std::vector<filter_section> read_filters(const toml::key& key,
                                           const toml::node& value,
                                           const char* not_array) const {
    auto array = value.as_array();
    if (!array)
      fail(key.source(),
           fmt::format("{}, got {}", not_array, describe(value)));
    std::vector<filter_section> filters;
    for (auto& item : *array)
      filters.push_back(read_filter(item_table(item, "filter")));
    return filters;
  }

  /// An element of an array of tables, which must be a table.
  const toml::table& item_table(const toml::node& item,
                                const char* what) const {
    auto table = item.as_table();
    if (!table)
      fail(item.source(), fmt::format("each '{}' must be a table, got {}",
                                      what, describe(item)));
    return *table;
  }

  /// `[sink]` (one table) or `[[sink]]` (an array of them).
  std::vector<sink_section> read_sinks(const toml::key& key,
                                       const toml::node& value) const {
    std::vector<sink_section> sinks;
    int matrices = 0;
    auto add = [&](const toml::table& table) {
      for (auto& s : read_sink(table, matrices + 1))
        sinks.push_back(std::move(s));
      if (sinks.back().matrix > 0)
        ++matrices;
    };
    if (auto array = value.as_array()) {
      for (auto& item : *array)
        add(item_table(item, "sink"));
      if (sinks.empty())
        fail(key.source(), "'sink' is an empty array: give at least one "
                           "[[sink]]");
    } else if (auto table = value.as_table()) {
      add(*table);
    } else {
      fail(key.source(), fmt::format("'sink' must be a table ([sink]) or an "
                                     "array of tables ([[sink]]), got {}",
                                     describe(value)));
    }
    return sinks;
  }

  /// One `[sink]` table: one sink, or with `widths` / `formats` one per
  /// combination, numbered `matrix`.
  std::vector<sink_section> read_sink(const toml::table& table,
                                      int matrix) const {
    sink_section s;
    s.where = at(table.source());
    auto save = stage_or_empty("save");
    std::vector<int> widths;
    std::vector<std::string> formats;
    const toml::node* widths_at = nullptr;
    const toml::node* formats_at = nullptr;
    // Per-format options: [sink.webp] quality = 70.
    std::map<std::string, std::pair<option_map, const toml::node*>> per_format;
    std::vector<std::string> format_names;
    std::map<std::string, const toml::key*> option_keys;
    if (auto format = save.find("format"))
      for (auto& f : format->choices)
        if (f != "auto")
          format_names.push_back(f);
    for (auto [key, value] : in_order(table)) {
      std::string name{key->str()};
      if (name == "widths") {
        widths_at = value;
        auto given = checked(matrix_widths(), *value);
        for (auto w : std::get<integer_list>(given))
          widths.push_back(int(w));
        std::sort(widths.begin(), widths.end());
      } else if (name == "formats") {
        formats_at = value;
        formats = std::get<string_list>(
          checked(matrix_formats(format_names), *value));
      } else if (value->is_table()
                 && std::find(format_names.begin(), format_names.end(), name)
                      != format_names.end()) {
        auto& [options, where] = per_format[name];
        where = value;
        for (auto [k, v] : in_order(*value->as_table())) {
          std::string option{k->str()};
          if (option == "path" || option == "naming" || option == "format")
            fail(k->source(), fmt::format("[sink.{}] sets how that format "
                                          "is encoded; '{}' belongs to the "
                                          "sink itself",
                                          name, option));
          options[option] = stage_option(save, *k, *v, {});
          // An option of another format is a mistake here.
          if (auto p = check_applies(save, *save.find(option),
                                     {{"format", name}, {option, true}}))
            fail(k->source(), p->reason);
        }
      } else if (name == "filter") {
        s.filters = read_filters(*key, *value,
                                 "a sink's 'filter' must be an array of "
                                 "tables (write [[sink.filter]])");
      } else if (name == "workers") {
        read_workers(*value, s.workers, s.remote);
      } else if (name == "max_in_flight") {
        s.max_in_flight = integer(max_in_flight_key(), *value);
      } else {
        s.options[name] = stage_option(save, *key, *value,
                                      {"filter", "workers", "max_in_flight"});
        option_keys[name] = key;
        if (name == "naming")
          if (auto err = check_name_template(
                std::get<std::string>(s.options[name])))
            fail(value->source(), fmt::format("option 'naming': {}", *err));
      }
    }
    for (auto& [format, options] : per_format)
      if (std::find(formats.begin(), formats.end(), format) == formats.end())
        fail(options.second->source(),
             fmt::format("[sink.{0}] gives options for {0}, but 'formats' "
                         "does not list it",
                         format));
    check_save_options(save, s.options, option_keys, formats, table);
    if (widths.empty() && formats.empty())
      return {s};
    return expand_matrix(s, matrix, widths, formats, per_format, widths_at,
                         formats_at);
  }

  /// The save stage's rules on a sink's own options: each must apply to
  /// the sink's format (an option of another format is a mistake), or with
  /// `formats` to one of them; reported at the first such key in the file.
  void check_save_options(const stage_spec& save, const option_map& options,
                          const std::map<std::string, const toml::key*>& keys,
                          const std::vector<std::string>& formats,
                          const toml::table& table) const {
    std::vector<std::pair<const toml::key*, const option_spec*>> in_file;
    for (auto& [name, key] : keys)
      in_file.emplace_back(key, save.find(name));
    std::sort(in_file.begin(), in_file.end(), [](auto& a, auto& b) {
      return before(a.first->source().begin, b.first->source().begin);
    });
    for (auto& [key, opt] : in_file) {
      if (!opt)
        continue;
      if (formats.empty()) {
        if (auto p = check_applies(save, *opt, options))
          fail(key->source(), p->reason);
        continue;
      }
      auto& when = opt->only_when;
      if (!when || when->option != "format")
        continue;
      bool any = std::any_of(formats.begin(), formats.end(),
                             [&](const std::string& f) {
                               return when->holds(save, {{"format", f}});
                             });
      if (!any) {
        std::string list;
        for (size_t i = 0; i < when->values.size(); ++i)
          list += fmt::format("{}\"{}\"",
                              i == 0                        ? ""
                              : i + 1 == when->values.size() ? " or "
                                                             : ", ",
                              when->values[i]);
        fail(key->source(),
             fmt::format("option '{}' is only for format = {}, and "
                         "'formats' has none of them",
                         opt->name, list));
      }
    }
    if (auto p = check_rules(save, options)) {
      auto it = keys.find(p->option);
      fail(it != keys.end() ? it->second->source() : table.source(),
           p->reason);
    }
  }

  /// One sink per width and format of a matrix sink `s`: each with its
  /// format and that format's options, its width made by a `thumbnail`
  /// (width alone, never enlarging) before the sink's own filters.
  std::vector<sink_section> expand_matrix(
    const sink_section& s, int matrix, const std::vector<int>& widths,
    const std::vector<std::string>& formats,
    const std::map<std::string, std::pair<option_map, const toml::node*>>&
      per_format,
    const toml::node* widths_at, const toml::node* formats_at) const {
    auto naming = s.options.find("naming");
    if (!formats.empty() && s.options.count("format"))
      fail(formats_at->source(), "a sink has 'format' or 'formats', not "
                                 "both");
    // Every combination needs a name of its own.
    std::string tmpl = naming != s.options.end()
                         ? std::get<std::string>(naming->second)
                         : widths.size() > 1 ? "{dir}/{stem}-{width}.{ext}"
                                             : "{dir}/{stem}.{ext}";
    if (widths.size() > 1 && tmpl.find("{width}") == std::string::npos)
      fail(widths_at->source(),
           fmt::format("'widths' makes several outputs per format, but "
                       "naming \"{}\" has no {{width}}: they would have one "
                       "name",
                       tmpl));
    if (formats.size() > 1 && tmpl.find("{format}") == std::string::npos
        && tmpl.find("{ext}") == std::string::npos)
      fail(formats_at->source(),
           fmt::format("'formats' makes an output per format, but naming "
                       "\"{}\" has neither {{format}} nor {{ext}}: they "
                       "would have one name",
                       tmpl));
    std::vector<sink_section> result;
    auto each_width = widths.empty() ? std::vector<int>{0} : widths;
    auto each_format = formats.empty() ? std::vector<std::string>{""}
                                       : formats;
    for (int w : each_width)
      for (auto& f : each_format) {
        sink_section one = s;
        one.matrix = matrix;
        one.matrix_width = w;
        one.options["naming"] = tmpl;
        if (!f.empty()) {
          one.options["format"] = f;
          if (auto it = per_format.find(f); it != per_format.end())
            for (auto& [k, v] : it->second.first)
              one.options[k] = v;
        }
        if (w > 0) {
          filter_section resize;
          resize.type = "thumbnail";
          resize.options["width"] = std::int64_t{w};
          resize.options["size"] = std::string{"down"};
          resize.where = s.where;
          one.filters.insert(one.filters.begin(), std::move(resize));
        }
        result.push_back(std::move(one));
      }
    return result;
  }

  /// Checks one option of a stage table; `extra` are the table's other keys.
  option_value stage_option(const stage_spec& spec, const toml::key& key,
                            const toml::node& value,
                            const std::vector<std::string>& extra) const {
    std::string name{key.str()};
    if (auto opt = spec.find(name))
      return checked(*opt, value);
    std::vector<std::string> candidates;
    for (auto& o : spec.options)
      candidates.push_back(o.name);
    candidates.insert(candidates.end(), extra.begin(), extra.end());
    auto hint = closest(name, candidates);
    fail(key.source(),
         hint ? fmt::format("stage '{}' has no option '{}' (did you mean "
                            "'{}'?)",
                            spec.name, key.str(), *hint)
              : fmt::format("stage '{}' has no option '{}' (options: {}; and "
                            "{})",
                            spec.name, key.str(), option_names(spec),
                            fmt::join(extra, ", ")));
  }

  std::string unknown_hint(const std::string& name,
                           const std::vector<std::string>& keys) const {
    if (auto hint = closest(name, keys))
      return fmt::format(" (did you mean '{}'?)", *hint);
    return fmt::format(" (keys: {})", fmt::join(keys, ", "));
  }

  static std::string option_names(const stage_spec& spec) {
    if (spec.options.empty())
      return "none";
    std::vector<std::string> names;
    for (auto& o : spec.options)
      names.push_back(o.name);
    return fmt::format("{}", fmt::join(names, ", "));
  }

  /// Stages a [[filter]] may name.
  std::vector<std::string> filter_names() const {
    return registry_.filter_names();
  }

  /// The registered stage, or one without options when a registry lacks it.
  stage_spec stage_or_empty(const std::string& name) const {
    if (auto spec = registry_.find(name))
      return *spec;
    stage_spec empty;
    empty.name = name;
    return empty;
  }

  std::string file_;
  const stage_registry& registry_;
};

toml::table parse_toml(const std::string& text, const std::string& name) {
  return parse_toml_text(expand_variables(text, name), name);
}

} // namespace

toml::table parse_toml_text(const std::string& text, const std::string& name) {
  auto syntax_error = [&](const toml::parse_error& e) {
    auto& begin = e.source().begin;
    return config_error({name, std::max(1, int(begin.line)),
                         std::max(1, int(begin.column))},
                        std::string{e.description()});
  };
  // toml++ reports syntax errors by exception or in its parse_result,
  // depending on how it is compiled; Debian's build uses exceptions.
#if TOML_EXCEPTIONS
  try {
    return toml::parse(text, std::string_view{name});
  } catch (const toml::parse_error& e) {
    throw syntax_error(e);
  }
#else
  auto result = toml::parse(text, std::string_view{name});
  if (!result)
    throw syntax_error(result.error());
  return std::move(result).table();
#endif
}

pipeline_config parse_config(const std::string& text, const std::string& name,
                             const stage_registry& registry,
                             const std::vector<std::string>& overrides) {
  auto root = parse_toml(text, name);
  apply_overrides(root, overrides);
  return reader{name, registry}.read(root);
}

void check_sinks_against_source(const pipeline_config& config) {
  if (config.source.on_success != "delete")
    return;
  for (auto& sink : config.sinks) {
    auto fsync = sink.options.find("fsync");
    if (fsync != sink.options.end() && !std::get<bool>(fsync->second))
      throw config_error(sink.where,
                         "fsync = false with [source] on_success = "
                         "\"delete\": originals would be deleted before their "
                         "outputs are on the disk (keep fsync, or use "
                         "on_success = \"move\")");
  }
}

namespace {

std::string read_config_text(const std::filesystem::path& file) {
  auto name = file.string();
  source_location where{name, 0, 0};
  std::error_code ec;
  auto status = std::filesystem::status(file, ec);
  if (!std::filesystem::exists(status))
    throw config_error(where, "config file not found");
  if (std::filesystem::is_directory(status))
    throw config_error(where, "is a folder, not a config file");
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw config_error(where, fmt::format("cannot open config file: {}",
                                          std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad())
    throw config_error(where, fmt::format("cannot read config file: {}",
                                          std::strerror(errno)));
  return text.str();
}

} // namespace

pipeline_config load_config(const std::filesystem::path& file,
                            const stage_registry& registry,
                            const std::vector<std::string>& overrides) {
  return parse_config(read_config_text(file), file.string(), registry,
                      overrides);
}

std::vector<plugin_entry> plugins_of_config(const std::filesystem::path& file) {
  auto name = file.string();
  auto root = parse_toml(read_config_text(file), name);
  auto node = root.get("plugins");
  if (!node)
    return {};
  // Only the plugins are read; the registry is not consulted.
  stage_registry none;
  auto key = root.find("plugins");
  return reader{name, none}.read_plugins(key->first, *node);
}

} // namespace pixline
