#pragma once
// The formats the save stage writes, one file pair each (as libvips has one
// saver per format): its typed options, its spec, its encode call. This
// file composes them: every format's options in one struct, and the one
// list the save stage, `format`'s choices and docs/stages.md take them from.

#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "actors/io/formats/common.hpp"
#include "actors/io/formats/gif.hpp"
#include "actors/io/formats/heif.hpp"
#include "actors/io/formats/jpeg.hpp"
#include "actors/io/formats/jxl.hpp"
#include "actors/io/formats/png.hpp"
#include "actors/io/formats/tiff.hpp"
#include "actors/io/formats/webp.hpp"

namespace pixline {

/// Every format's own settings, as a sink gives them (defaults for the
/// rest); `avif` and `heif`, one libvips saver, share theirs.
struct format_options {
  jpeg_options jpeg;
  png_options png;
  webp_options webp;
  heif_options heif;
  tiff_options tiff;
  jxl_options jxl;
  gif_options gif;
};

/// One output format.
struct output_format {
  /// As `format` names it ("jpeg").
  std::string name;
  /// Of its files, without the dot ("jpg").
  std::string extension;
  /// Its own options, each with what this format does with it; `name` is
  /// the format's.
  stage_spec spec;
  /// Sets in `o` the options of this format `given` gives (checked).
  std::function<void(format_options& o, const option_map& given)> apply;
  /// `img` as this format can hold it (jpeg: flattened, it has no alpha);
  /// empty: as it is.
  std::function<vips::VImage(const vips::VImage& img,
                             const format_options& o)>
    prepare;
  /// Encodes `img` (prepared) into memory; the image's whole lazy graph is
  /// computed here. Throws vips::VError.
  std::function<encoded_file(const vips::VImage& img,
                             const format_options& o, save_context& context)>
    encode;
};

/// The output_format whose options, declared by `spec`, are `member` of
/// format_options: its encode (and prepare) calls get those alone.
template <class Options>
output_format make_output_format(
  std::string name, std::string extension,
  const spec_builder<Options>& spec, Options format_options::*member,
  std::type_identity_t<std::function<encoded_file(
    const vips::VImage&, const Options&, save_context&)>>
    encode,
  std::type_identity_t<
    std::function<vips::VImage(const vips::VImage&, const Options&)>>
    prepare
  = {}) {
  output_format f;
  f.name = std::move(name);
  f.extension = std::move(extension);
  f.spec = spec.spec();
  f.spec.name = f.name;
  f.apply = [&spec, member](format_options& o, const option_map& given) {
    spec.apply(o.*member, given);
  };
  f.encode = [member, encode = std::move(encode)](
               const vips::VImage& img, const format_options& o,
               save_context& context) { return encode(img, o.*member, context); };
  if (prepare)
    f.prepare = [member, prepare = std::move(prepare)](
                  const vips::VImage& img, const format_options& o) {
      return prepare(img, o.*member);
    };
  return f;
}

/// The formats, in the order `format` lists them.
const std::vector<output_format>& output_formats();

/// The format called `name`, or nullptr.
const output_format* find_output_format(const std::string& name);

} // namespace pixline
