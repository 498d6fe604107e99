#include "pipeline/naming.hpp"

#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

namespace pixline {

const char* name_placeholders() {
  return "{stem} {ext} {format} {dir} {width} {height} {hash}";
}

namespace {

/// Calls `literal(text)` and `field(name)` for the parts of a template;
/// returns an error for unbalanced braces.
template <class Literal, class Field>
std::optional<std::string> scan(const std::string& tmpl, Literal literal,
                                Field field) {
  size_t i = 0;
  while (i < tmpl.size()) {
    auto open = tmpl.find_first_of("{}", i);
    if (open == std::string::npos) {
      literal(tmpl.substr(i));
      break;
    }
    if (tmpl[open] == '}')
      return fmt::format("unbalanced '}}' at offset {} in \"{}\"", open, tmpl);
    literal(tmpl.substr(i, open - i));
    auto close = tmpl.find('}', open);
    if (close == std::string::npos)
      return fmt::format("unclosed '{{' at offset {} in \"{}\"", open, tmpl);
    if (auto err = field(tmpl.substr(open + 1, close - open - 1)))
      return err;
    i = close + 1;
  }
  return std::nullopt;
}

std::optional<std::string> value_of(const std::string& name,
                                    const name_fields& f) {
  if (name == "stem")
    return f.stem;
  if (name == "ext")
    return f.ext;
  if (name == "format")
    return f.format;
  if (name == "dir")
    return f.dir;
  if (name == "width")
    return std::to_string(f.width);
  if (name == "height")
    return std::to_string(f.height);
  if (name == "hash")
    return f.hash;
  return std::nullopt;
}

} // namespace

bool uses_hash(const std::string& tmpl) {
  return tmpl.find("{hash}") != std::string::npos;
}

std::optional<std::string> check_name_template(const std::string& tmpl) {
  if (tmpl.empty())
    return std::string{"the naming template is empty"};
  name_fields probe{"a", "b", "c", "d", 1, 1, "e"};
  auto err = scan(
    tmpl, [](const std::string&) {},
    [&](const std::string& name) -> std::optional<std::string> {
      if (!value_of(name, probe))
        return fmt::format("unknown placeholder {{{}}} in \"{}\" (known: {})",
                           name, tmpl, name_placeholders());
      return std::nullopt;
    });
  if (err)
    return err;
  // A name that leaves the output folder ("../{stem}", "/tmp/{stem}")
  // would fail every image at run time; {dir} is tried empty too (an input
  // at the root), since "{dir}/../{stem}" leaves only then.
  for (auto dir : {"d", ""}) {
    probe.dir = dir;
    try {
      render_name(tmpl, probe);
    } catch (const std::runtime_error& e) {
      return fmt::format("\"{}\" would name every output outside the "
                         "output folder: {}",
                         tmpl, e.what());
    }
  }
  return std::nullopt;
}

std::string render_name(const std::string& tmpl, const name_fields& fields) {
  std::string out;
  // An empty placeholder takes the slash after it along ("{dir}/{stem}" at
  // the input root is "photo", not "/photo").
  bool after_empty = false;
  auto err = scan(
    tmpl,
    [&](const std::string& s) {
      out += after_empty && !s.empty() && s[0] == '/' ? s.substr(1) : s;
      after_empty = false;
    },
    [&](const std::string& name) -> std::optional<std::string> {
      auto v = value_of(name, fields);
      if (!v)
        return fmt::format("unknown placeholder {{{}}}", name);
      out += *v;
      after_empty = v->empty();
      return std::nullopt;
    });
  if (err)
    throw std::runtime_error(*err);
  std::filesystem::path p{out};
  if (out.empty() || p.is_absolute())
    throw std::runtime_error(
      fmt::format("output name \"{}\" must be a relative path", out));
  auto normal = p.lexically_normal();
  if (normal.empty() || *normal.begin() == ".." || normal == ".")
    throw std::runtime_error(
      fmt::format("output name \"{}\" leaves the output folder", out));
  return normal.string();
}

} // namespace pixline
