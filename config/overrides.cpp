#include "config/overrides.hpp"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "config/config.hpp"

namespace pixline {

// -- ${VAR} ---------------------------------------------------------------

namespace {

/// Where in the TOML text a `${` stands.
enum class context {
  bare,             // a value outside any string
  comment,          // after # up to the line's end
  basic,            // "..."
  multiline_basic,  // """..."""
  literal,          // '...'
  multiline_literal // '''...'''
};

bool name_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

bool name_char(char c) {
  return name_start(c) || (c >= '0' && c <= '9');
}

/// `value` escaped for a "basic string" (one line, or several).
std::string escape_basic(std::string_view value, bool multiline) {
  std::string out;
  for (unsigned char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\t': out += "\\t"; break;
      case '\n': out += multiline ? "\n" : "\\n"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f)
          out += fmt::format("\\u{:04X}", unsigned(c));
        else
          out += char(c);
    }
  }
  return out;
}

class expander {
public:
  expander(std::string_view text, const std::string& file,
           const variable_lookup& lookup)
    : text_(text), file_(file), lookup_(lookup) {
  }

  std::string run() {
    while (i_ < text_.size()) {
      if (ctx_ != context::comment && at("$${")) {
        out_ += "${";
        advance(3);
      } else if (ctx_ != context::comment && at("${")) {
        out_ += substitute();
      } else {
        step();
      }
    }
    return std::move(out_);
  }

private:
  bool at(std::string_view s) const {
    return text_.compare(i_, s.size(), s) == 0;
  }

  void advance(size_t n) {
    for (size_t k = 0; k < n && i_ < text_.size(); ++k) {
      if (text_[i_] == '\n') {
        ++line_;
        column_ = 1;
      } else {
        ++column_;
      }
      ++i_;
    }
  }

  /// Copies n characters to the output.
  void copy(size_t n) {
    out_ += text_.substr(i_, n);
    advance(n);
  }

  /// Copies the next token (a character, an escape or a delimiter) and
  /// tracks whether the text is in a string or a comment.
  void step() {
    char c = text_[i_];
    switch (ctx_) {
      case context::bare:
        if (at("\"\"\"")) {
          ctx_ = context::multiline_basic;
          return copy(3);
        }
        if (at("'''")) {
          ctx_ = context::multiline_literal;
          return copy(3);
        }
        if (c == '#')
          ctx_ = context::comment;
        else if (c == '"')
          ctx_ = context::basic;
        else if (c == '\'')
          ctx_ = context::literal;
        break;
      case context::comment:
        if (c == '\n')
          ctx_ = context::bare;
        break;
      case context::basic:
        if (c == '\\')
          return copy(2);
        if (c == '"' || c == '\n')
          ctx_ = context::bare;
        break;
      case context::multiline_basic:
        if (c == '\\')
          return copy(2);
        if (at("\"\"\"")) {
          ctx_ = context::bare;
          return copy(3);
        }
        break;
      case context::literal:
        if (c == '\'' || c == '\n')
          ctx_ = context::bare;
        break;
      case context::multiline_literal:
        if (at("'''")) {
          ctx_ = context::bare;
          return copy(3);
        }
        break;
    }
    copy(1);
  }

  [[noreturn]] void fail(int line, int column, const std::string& reason) {
    throw config_error({file_, line, column}, reason);
  }

  std::string substitute() {
    int line = line_, column = column_;
    size_t start = i_ + 2;
    size_t j = start;
    if (j >= text_.size() || !name_start(text_[j]))
      fail(line, column, "'${' must be followed by a variable name and '}' "
                         "(${NAME} or ${NAME:-default}; write $${ for a "
                         "literal ${)");
    while (j < text_.size() && name_char(text_[j]))
      ++j;
    std::string name{text_.substr(start, j - start)};
    std::optional<std::string> fallback;
    if (text_.compare(j, 2, ":-") == 0) {
      size_t close = text_.find('}', j + 2);
      size_t newline = text_.find('\n', j + 2);
      if (close == std::string_view::npos || newline < close)
        fail(line, column, fmt::format("'${{{}:-' has no closing '}}' on "
                                       "its line", name));
      fallback = std::string{text_.substr(j + 2, close - j - 2)};
      j = close;
    } else if (j >= text_.size() || text_[j] != '}') {
      fail(line, column, fmt::format("'${{{}' must end with '}}' (or give "
                                     "a default: ${{{}:-value}})",
                                     name, name));
    }
    advance(j + 1 - i_);
    const char* set = lookup_(name);
    std::string value;
    if (set && (*set || !fallback))
      value = set;
    else if (fallback)
      value = *fallback;
    else
      fail(line, column,
           fmt::format("environment variable {} is not set (set it, or give "
                       "a default: ${{{}:-value}})",
                       name, name));
    return placed(value, name, line, column);
  }

  /// `value` as it may stand where the `${` was.
  std::string placed(const std::string& value, const std::string& name,
                     int line, int column) {
    switch (ctx_) {
      case context::basic:
        return escape_basic(value, false);
      case context::multiline_basic:
        return escape_basic(value, true);
      case context::literal:
        if (std::any_of(value.begin(), value.end(), [](unsigned char c) {
              return c == '\'' || c == '\n' || c == '\r' || c == 0x7f
                     || (c < 0x20 && c != '\t');
            }))
          fail(line, column,
               fmt::format("the value of {} holds a quote, a line break or "
                           "a control character, which a 'literal string' "
                           "cannot: use a \"basic string\"",
                           name));
        return value;
      case context::multiline_literal:
        if (value.find("'''") != std::string::npos)
          fail(line, column, fmt::format("the value of {} holds ''', which "
                                         "would end the '''string'''",
                                         name));
        return value;
      case context::bare:
        if (value.find_first_of("\r\n") != std::string::npos)
          fail(line, column,
               fmt::format("the value of {} holds a line break, which is "
                           "not allowed outside a string",
                           name));
        return value;
      case context::comment:
        break;
    }
    return value;
  }

  std::string_view text_;
  const std::string& file_;
  const variable_lookup& lookup_;
  std::string out_;
  size_t i_ = 0;
  int line_ = 1;
  int column_ = 1;
  context ctx_ = context::bare;
};

} // namespace

std::string expand_variables(std::string_view text, const std::string& file,
                             const variable_lookup& lookup) {
  if (text.find("${") == std::string_view::npos)
    return std::string{text};
  return expander{text, file, lookup}.run();
}

std::string expand_variables(std::string_view text, const std::string& file) {
  return expand_variables(text, file, [](const std::string& name) {
    return static_cast<const char*>(std::getenv(name.c_str()));
  });
}

// -- --set ----------------------------------------------------------------

namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return c >= '0' && c <= '9';
  });
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    auto dot = path.find('.', start);
    parts.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos)
      break;
    start = dot + 1;
  }
  return parts;
}

class override_applier {
public:
  explicit override_applier(const std::string& set) : set_(set) {
  }

  void apply(toml::table& root) {
    auto eq = set_.find('=');
    if (eq == std::string::npos || eq == 0)
      fail("expected PATH=VALUE, e.g. --set sink.quality=80 or --set "
           "filter.2.width=512");
    auto parts = split_path(set_.substr(0, eq));
    for (auto& p : parts)
      if (p.empty())
        fail("the path has an empty part (write section.key, e.g. "
             "pipeline.max_in_flight)");
    auto value = parse_value(set_.substr(eq + 1));

    toml::table* table = &root;
    std::string where;
    for (size_t k = 0; k + 1 < parts.size(); ++k) {
      const auto& part = parts[k];
      auto node = table->get(part);
      if (!node) {
        if (part == "filter")
          fail(fmt::format("{} has no [[filter]]: --set changes the "
                           "options of filters the config has (--chain "
                           "replaces them)",
                           where.empty() ? "the config" : where));
        auto [it, inserted] = table->insert(key(part), fresh_table());
        (void)inserted;
        table = it->second.as_table();
        where = join(where, part);
        continue;
      }
      where = join(where, part);
      if (auto t = node->as_table()) {
        table = t;
      } else if (auto array = node->as_array()) {
        table = element(*array, parts, k, where);
      } else {
        fail(fmt::format("'{}' is a value, not a table: it has no '{}'", where,
                         parts[k + 1]));
      }
    }
    value.get("v")->visit([&](auto& v) {
      table->insert_or_assign(key(parts.back()), std::move(v));
    });
  }

private:
  [[noreturn]] void fail(const std::string& reason) const {
    throw config_error({"--set " + set_, 0, 0}, reason);
  }

  static std::string join(const std::string& a, const std::string& b) {
    return a.empty() ? b : a + "." + b;
  }

  toml::key key(const std::string& name) const {
    return toml::key{name, region()};
  }

  /// An empty table whose source is the override, so the reader's errors
  /// about it name the override.
  toml::table fresh_table() const {
    auto holder = parse_value("{}");
    return std::move(*holder.get_as<toml::table>("v"));
  }

  toml::source_region region() const {
    toml::source_region r;
    r.path = std::make_shared<const std::string>("--set " + set_);
    return r;
  }

  /// The TOML value the text is, or the text as a string, as the "v" of a
  /// table. It carries the override as its source path, so the reader
  /// names the override in errors.
  toml::table parse_value(const std::string& text) const {
    auto name = "--set " + set_;
    auto attempt = [&](const std::string& toml) -> std::optional<toml::table> {
#if TOML_EXCEPTIONS
      try {
        auto parsed = toml::parse(toml, std::string_view{name});
        if (parsed.size() == 1 && parsed.contains("v"))
          return parsed;
      } catch (const toml::parse_error&) {
      }
#else
      auto parsed = toml::parse(toml, std::string_view{name});
      if (parsed && parsed.table().size() == 1 && parsed.table().contains("v"))
        return std::move(parsed).table();
#endif
      return std::nullopt;
    };
    if (auto value = attempt("v = " + text))
      return std::move(*value);
    return std::move(*attempt("v = \"" + escape_basic(text, false) + "\""));
  }

  /// The table an array of tables' element stands for: `N` (from 1), a
  /// filter's type, or the only element when there is just one.
  toml::table* element(toml::array& array, std::vector<std::string>& parts,
                       size_t& k, std::string& where) {
    const auto& next = parts[k + 1];
    auto table_at = [&](size_t index) {
      auto t = array[index].as_table();
      if (!t)
        fail(fmt::format("{} #{} is not a table", where, index + 1));
      return t;
    };
    if (all_digits(next)) {
      auto n = std::strtoull(next.c_str(), nullptr, 10);
      if (n < 1 || n > array.size())
        fail(fmt::format("there {} {} '{}': use {}.1{}", array.size() == 1
                                                             ? "is"
                                                             : "are",
                         array.size(), where, where,
                         array.size() > 1
                           ? fmt::format(" to {}.{}", where, array.size())
                           : std::string{}));
      ++k;
      where = join(where, next);
      if (k + 1 >= parts.size())
        fail(fmt::format("'{}' is a whole table: name one of its keys "
                         "({}.KEY=VALUE)",
                         where, where));
      return table_at(n - 1);
    }
    std::vector<size_t> typed;
    for (size_t i = 0; i < array.size(); ++i)
      if (auto t = array[i].as_table())
        if (auto type = t->get_as<std::string>("type"); type && **type == next)
          typed.push_back(i);
    if (typed.size() == 1 && k + 2 < parts.size()) {
      ++k;
      where = join(where, next);
      return table_at(typed.front());
    }
    if (typed.size() > 1) {
      std::vector<std::string> numbers;
      for (auto i : typed)
        numbers.push_back(fmt::format("{}.{}", where, i + 1));
      fail(fmt::format("several '{}' have type = \"{}\": name one by its "
                       "number ({})",
                       where, next, fmt::join(numbers, ", ")));
    }
    if (array.size() == 1)
      return table_at(0);
    std::vector<std::string> types;
    for (size_t i = 0; i < array.size(); ++i) {
      auto t = array[i].as_table();
      auto type = t ? t->get_as<std::string>("type") : nullptr;
      types.push_back(fmt::format("{}.{}{}", where, i + 1,
                                  type ? " (" + **type + ")" : ""));
    }
    fail(fmt::format("there are {} '{}': name one by its number{} ({})",
                     array.size(), where,
                     where == "filter" ? " or its type" : "",
                     fmt::join(types, ", ")));
  }

  std::string set_;
};

} // namespace

void apply_overrides(toml::table& root, const std::vector<std::string>& sets) {
  for (auto& set : sets)
    override_applier{set}.apply(root);
}

} // namespace pixline
