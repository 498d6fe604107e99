#pragma once
// What the output formats share: the encoded result, what an encode call
// gets besides its format's own options, and the options several formats
// take, declared once so their name, type, default and range agree.

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include <glib.h>
#include <vips/vips8>

#include "actors/io/deadline.hpp"
#include "pipeline/spec.hpp"

namespace pixline {

/// An encoded file in memory with its size; freed by its own deleter
/// (g_free for libvips' savers).
using encoded_file = std::pair<std::unique_ptr<void, void (*)(void*)>,
                               std::size_t>;

/// What every format's encode call gets besides its own options.
struct save_context {
  /// Drop metadata (the save stage's `strip`).
  bool strip;
  /// Checked as the image is computed.
  deadline_guard& deadline;
};

/// The options of a libvips saver call, `strip` set as `context` says.
vips::VOption* save_options(const save_context& context);

/// libvips' saver for `suffix` (".png") into memory, with `options`
/// (from save_options). Throws vips::VError.
encoded_file save_to_buffer(const vips::VImage& img, const char* suffix,
                            vips::VOption* options);

/// What an option several formats take means in general, for the save
/// stage's own table (each format's table says what it does with it);
/// empty for an option only one format takes.
std::string shared_option_doc(const std::string& name);

/// `quality`, 1 – 100, 80 by default.
template <class Options>
spec_builder<Options>& quality_option(spec_builder<Options>& b,
                                      int Options::*member, std::string doc) {
  return b.integer("quality", member, 80, 1, 100, std::move(doc));
}

/// `effort`, 0 – 9, 4 by default; each format maps it to its own range.
template <class Options>
spec_builder<Options>& effort_option(spec_builder<Options>& b,
                                     int Options::*member, std::string doc) {
  return b.integer("effort", member, 4, 0, 9, std::move(doc));
}

/// `lossless`, false by default.
template <class Options>
spec_builder<Options>& lossless_option(spec_builder<Options>& b,
                                       bool Options::*member,
                                       std::string doc) {
  return b.boolean("lossless", member, false, std::move(doc));
}

/// `progressive`, false by default.
template <class Options>
spec_builder<Options>& progressive_option(spec_builder<Options>& b,
                                          bool Options::*member,
                                          std::string doc) {
  return b.boolean("progressive", member, false, std::move(doc));
}

} // namespace pixline
