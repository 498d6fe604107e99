#pragma once

#include <optional>
#include <string>

namespace pixline {

/// What an output name template can refer to.
struct name_fields {
  /// Input file name without its extension.
  std::string stem;
  /// Extension of the output format, without the dot ("jpg", "webp").
  std::string ext;
  /// Output format name ("jpeg", "webp").
  std::string format;
  /// Folder of the input relative to the input root ("" at the root).
  std::string dir;
  int width = 0;
  int height = 0;
  /// The first 16 hex digits of the SHA-256 of the encoded output, for
  /// cache-busting names; empty until the output is encoded.
  std::string hash;
};

/// True when `tmpl` uses {hash}, so the output must be encoded before it can
/// be named.
bool uses_hash(const std::string& tmpl);

/// The placeholders a template may use, for docs and errors.
const char* name_placeholders();

/// Checks a template: only known placeholders, balanced braces, a non-empty
/// result. Returns an error message, or nothing when it is fine.
std::optional<std::string> check_name_template(const std::string& tmpl);

/// Renders a checked template into a path relative to the output root.
/// Throws std::runtime_error when the result would leave the output root
/// ("..", an absolute path) or is empty.
std::string render_name(const std::string& tmpl, const name_fields& fields);

} // namespace pixline
