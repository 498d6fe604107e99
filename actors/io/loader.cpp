#include "actors/io/loader.hpp"

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "actors/io/jpeg_decoder.hpp"
#include "actors/io/png_decoder.hpp"
#include "actors/io/webp_decoder.hpp"
#include "pipeline/registry.hpp"
#include "pipeline/safe_fs.hpp"

namespace pixline {

const spec_builder<loader_options>& loader_spec() {
  static const auto spec
    = spec_builder<loader_options>("load",
                                   "Open input files with libvips (jpeg, png, "
                                   "webp, tiff, gif, heif/avif, jxl, svg, "
                                   "pdf...); options go in [source]")
        .example("[source]\nkind = \"directory\"\npath = \"photos\"\n"
                 "fail_on = \"error\"")
        .choice("fail_on", &loader_options::fail_on, "error",
                {"none", "truncated", "error", "warning"},
                "How damaged an input may be before it fails: 'none' decodes "
                "whatever it can, 'truncated' fails on truncated files, "
                "'error' on any decode error, 'warning' on any warning")
        .integer("max_pixels", &loader_options::max_pixels, 268402689, 0,
                 2147483647,
                 "Largest image accepted, in pixels (width x height), "
                 "checked from the header before decoding, so a decompression "
                 "bomb costs nothing; 0 means no limit. The default is "
                 "sharp's (16383 x 16383)")
        .integer("max_file_mib", &loader_options::max_file_mib, 1024, 0,
                 1048576, "Largest input file in MiB; 0 means no limit")
        .integer("max_frames", &loader_options::max_frames, 1000, 0, 1000000,
                 "Most pages an input may have: frames of an animated GIF or "
                 "WebP, pages of a TIFF, PDF or HEIF. Checked from the header "
                 "(libvips' n-pages) before decoding; 0 means no limit. "
                 "pixline decodes only the first page, so this refuses "
                 "implausible files (a GIF of 100,000 one-pixel frames) "
                 "rather than bounding memory; a file without a page count "
                 "counts as one page")
        .boolean("block_untrusted", &loader_options::block_untrusted, false,
                 "Refuse the libvips loaders not fuzzed for untrusted input "
                 "(vips_block_untrusted_set). In libvips 8.14 that includes "
                 "svg, jxl, pdf, ImageMagick, FITS, Matlab and OpenEXR, so it "
                 "is off by default; turn it on for inputs from strangers "
                 "that are jpeg, png, webp, gif, tiff or heif");
  return spec;
}

void register_loader(stage_registry& registry) {
  registry.add(loader_spec().spec());
}

loader::loader(loader_options opts, load_params params,
               std::unique_ptr<stage> fused)
  : opts_(std::move(opts)), params_(params), fused_(std::move(fused)) {
  params_.fail_on = opts_.fail_on;
  // Process-wide in libvips; every loader of a run has the same options.
  vips_block_untrusted_set(opts_.block_untrusted ? TRUE : FALSE);
}

std::string loader_of(const vips::VImage& img) {
  if (img.get_typeof("vips-loader") == 0)
    return "";
  return img.get_string("vips-loader");
}

bool is_decode_failure(std::string_view error) {
  if (error.rfind("sink ", 0) == 0) {
    auto colon = error.find(": ");
    if (colon == std::string_view::npos)
      return false;
    error.remove_prefix(colon + 2);
  }
  // The domains libvips 8.14's loaders (and the libraries under them)
  // put before their messages.
  static constexpr std::string_view decoders[] = {
    "VipsJpeg:", "vipspng:", "spng:",      "webp:",     "gifload:",
    "tiff2vips:", "heifload:", "magick2vips:", "VipsForeignLoad",
    "jpegload", "pngload",  "webpload",   "tiffload",  "heifload",
    "svgload",  "pdfload",  "jp2kload",   "jxlload",   "openslideload"};
  for (auto prefix : decoders)
    if (error.rfind(prefix, 0) == 0)
      return true;
  return false;
}

bool take_decode_failure(std::string& error) {
  if (!is_decode_failure(error))
    return false;
  if (error.rfind("sink ", 0) == 0)
    error.erase(0, error.find(": ") + 2);
  return true;
}

bool has_option_suffix(const std::string& path) {
  return !path.empty() && path.back() == ']'
         && path.find('[') != std::string::npos;
}

namespace {

int free_bytes(void* data, void*) {
  g_free(data);
  return 0;
}

} // namespace

std::shared_ptr<VipsBlob> read_input_bytes(int fd, std::int64_t limit) {
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > limit)
    return nullptr;
  // One byte more than the size: a file that grew since the stat is left
  // to the file path, which reads it whole.
  auto size = std::size_t(st.st_size);
  auto* data = static_cast<char*>(g_malloc(size + 1));
  std::size_t got = 0;
  ssize_t n = 0;
  while (got <= size) {
    n = ::pread(fd, data + got, size + 1 - got, off_t(got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += std::size_t(n);
  }
  // Only the formats whose loader the signature names: for the others,
  // libvips' own format search and messages (libtiff's name the file) stay
  // as they were.
  if (n < 0 || got > size
      || loader_for_signature({data, std::min<std::size_t>(got, 12)})
           .empty()) {
    g_free(data);
    return nullptr;
  }
  return std::shared_ptr<VipsBlob>(vips_blob_new(free_bytes, data, got),
                                   [](VipsBlob* blob) {
                                     vips_area_unref(VIPS_AREA(blob));
                                   });
}

std::shared_ptr<VipsBlob> read_input_bytes(const std::string& path,
                                           int input_fd, std::int64_t limit) {
  if (input_fd >= 0)
    return read_input_bytes(input_fd, limit);
  // Not blocking: the path may name a FIFO by now (read_input_bytes then
  // refuses it, and the usual open reports it).
  unique_fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY
                                      | O_NONBLOCK)};
  if (!fd)
    return nullptr;
  return read_input_bytes(fd.get(), limit);
}

vips::VSource source_of_bytes(const std::shared_ptr<VipsBlob>& bytes) {
  auto* source = vips_source_new_from_blob(bytes.get());
  if (!source)
    throw vips::VError();
  return vips::VSource(source);
}

namespace {

// The first 12 bytes of `path` (of the file `fd` when >= 0), fewer when
// it is shorter or unreadable.
// A libvips source reading the checked input file `fd` through an open of
// its own (own file offset: several sources may read it at once).
vips::VSource source_of(int fd) {
  auto again = reopen_read(fd);
  // libvips keeps a duplicate of the descriptor.
  return vips::VSource::new_from_descriptor(again.get());
}

// The first bytes of a file read into memory.
std::string_view first_bytes(const VipsBlob& bytes) {
  auto* area = VIPS_AREA(&bytes);
  return {static_cast<const char*>(area->data), std::min<std::size_t>(
                                                  area->length, 12)};
}

// Whether some libvips loader takes the file, by its own name (or the
// file `fd` when >= 0, or `bytes` when given).
bool has_loader(const std::string& path, int fd,
                const std::shared_ptr<VipsBlob>& bytes) {
  load_vips_modules_for(bytes ? first_bytes(*bytes)
                              : std::string_view(file_head(path, fd)));
  if (bytes) {
    auto source = source_of_bytes(bytes);
    return vips_foreign_find_load_source(source.get_source()) != nullptr;
  }
  if (fd < 0 && !has_option_suffix(path))
    return vips_foreign_find_load(path.c_str()) != nullptr;
  VipsSource* source = fd >= 0 ? nullptr
                               : vips_source_new_from_file(path.c_str());
  if (fd >= 0) {
    auto again = reopen_read(fd);
    source = vips_source_new_from_descriptor(again.get());
  }
  if (!source)
    return false;
  bool found = vips_foreign_find_load_source(source) != nullptr;
  g_object_unref(source);
  return found;
}

} // namespace

vips::VImage open_image_file(const std::string& path, vips::VOption* options,
                             const std::string& opened_with, int input_fd,
                             const std::shared_ptr<VipsBlob>& bytes) {
  auto base = opened_with.substr(0, opened_with.rfind("_source"));
  bool known = base == "jpegload" || base == "pngload" || base == "webpload";
  auto loader = known   ? base
                : bytes ? loader_for_signature(first_bytes(*bytes))
                        : loader_for_signature(file_head(path, input_fd));
  if (loader.empty())
    // libvips' format search, which may need a module's loader.
    load_vips_modules();
  if (bytes || input_fd >= 0) {
    // The bytes read, or the checked file, never `path` again: libvips'
    // source loaders.
    auto source = bytes ? source_of_bytes(bytes) : source_of(input_fd);
    if (loader.empty())
      return vips::VImage::new_from_source(source, "", options);
    vips::VImage out;
    vips::VImage::call((loader + "_source").c_str(),
                       options->set("source", source)->set("out", &out));
    return out;
  }
  if (loader.empty()) {
    if (has_option_suffix(path))
      return vips::VImage::new_from_source(
        vips::VSource::new_from_file(path.c_str()), "", options);
    return vips::VImage::new_from_file(path.c_str(), options);
  }
  vips::VImage out;
  vips::VImage::call(loader.c_str(), options->set("filename", path.c_str())
                                       ->set("out", &out));
  return out;
}

namespace {

// check_input_file()'s size checks.
void check_input_size(std::uintmax_t size, int max_file_mib) {
  if (size == 0)
    throw stage_error("empty file (0 bytes)");
  if (max_file_mib > 0 && size > std::uintmax_t(max_file_mib) * 1024 * 1024)
    throw stage_error(fmt::format("file is {} bytes, over max_file_mib = {}",
                                  size, max_file_mib));
}

} // namespace

void check_input_bytes(const VipsBlob& bytes, int max_file_mib) {
  check_input_size(VIPS_AREA(&bytes)->length, max_file_mib);
}

void check_input_file(const std::string& path, int max_file_mib,
                      int input_fd) {
  if (input_fd >= 0) {
    struct stat st{};
    if (::fstat(input_fd, &st) != 0)
      throw stage_error(
        fmt::format("cannot read: {}", std::strerror(errno)));
    if (!S_ISREG(st.st_mode))
      throw stage_error("not a regular file");
    check_input_size(std::uintmax_t(st.st_size), max_file_mib);
    return;
  }
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st))
    throw stage_error(fmt::format("cannot open: {}",
                                  ec ? ec.message() : "no such file"));
  if (!std::filesystem::is_regular_file(st))
    throw stage_error("not a regular file");
  auto size = std::filesystem::file_size(path, ec);
  if (ec)
    throw stage_error(fmt::format("cannot read: {}", ec.message()));
  check_input_size(size, max_file_mib);
}

std::string format_of_loader(const std::string& loader) {
  // "jpegload", "jpegload_source" or "VipsForeignLoadJpegFile" -> "jpeg"
  std::string s = loader;
  auto strip_suffix = [&s](const std::string& suffix) {
    if (s.size() > suffix.size()
        && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0)
      s.erase(s.size() - suffix.size());
  };
  if (s.rfind("VipsForeignLoad", 0) == 0)
    s.erase(0, std::string("VipsForeignLoad").size());
  for (std::string suffix : {"File", "Source", "Buffer", "_source", "_buffer"})
    strip_suffix(suffix);
  strip_suffix("load");
  for (auto& c : s)
    c = char(std::tolower(static_cast<unsigned char>(c)));
  if (s == "nsgif")
    return "gif";
  if (s == "jpeg2k")
    return "jp2k";
  return s;
}

void loader::load(job& j) {
  int input_fd = j.input_file ? j.input_file->get() : -1;
  auto bytes = j.input_bytes;
  if (bytes) {
    check_input_bytes(*bytes, opts_.max_file_mib);
  } else {
    check_input_file(j.path, opts_.max_file_mib, input_fd);
    bytes = read_input_bytes(j.path, input_fd, in_memory_input_limit);
  }
  auto img = std::make_shared<tracked_image>();
  img->id = j.id;
  img->source = j.path;
  img->relative = j.relative;
  try {
    auto fail_on = vips_enum_from_nick("pixline", VIPS_TYPE_FAIL_ON,
                                       params_.fail_on.c_str());
    if (fail_on < 0) {
      vips_error_clear();
      throw stage_error(
        fmt::format("unknown fail_on level '{}'", params_.fail_on));
    }
    // Opening reads only the header; nothing is decoded until a stage
    // downstream asks for pixels. This is the file's one header read: the
    // format comes from it and a fused stage gets it.
    vips::VImage opened;
    try {
      opened = open_image_file(
        j.path,
        vips::VImage::option()
          ->set("access", params_.sequential ? VIPS_ACCESS_SEQUENTIAL
                                             : VIPS_ACCESS_RANDOM)
          ->set("fail_on", fail_on),
        {}, input_fd, bytes);
    } catch (const vips::VError&) {
      // Say "not an image" rather than libvips' "is not a known file
      // format" with the path repeated.
      if (!has_loader(j.path, input_fd, bytes)) {
        vips_error_clear();
        throw stage_error("not an image file libvips can read");
      }
      throw;
    }
    img->input_format = format_of_loader(loader_of(opened));
    check_size(opened);
    if (fused_) {
      auto params = params_;
      params.input_fd = input_fd;
      params.input_bytes = bytes;
      if (auto pixels = fused_->load_fused(j.path, opened, params)) {
        img->pixels = std::move(*pixels);
        j.img = std::move(img);
        return;
      }
    }
    // A small JPEG or PNG or a still WebP read into memory is decoded now,
    // whole (see decode_jpeg_here, decode_png_here, decode_webp_here);
    // anything else stays lazy until a stage downstream asks for pixels.
    std::optional<vips::VImage> here;
    if (bytes && img->input_format == "jpeg")
      here = decode_jpeg_here(*bytes, opened, 1);
    else if (bytes && img->input_format == "png")
      here = decode_png_here(*bytes, opened);
    else if (bytes && img->input_format == "webp")
      here = decode_webp_here(*bytes, opened, 1.0);
    img->pixels = here ? std::move(*here) : std::move(opened);
    if (fused_)
      fused_->process(*img);
  } catch (const vips::VError& e) {
    throw stage_error(vips_error_text(e));
  }
  j.img = std::move(img);
}

void loader::check_size(const vips::VImage& header) const {
  auto pixels = std::int64_t(header.width()) * header.height();
  if (opts_.max_pixels > 0 && pixels > opts_.max_pixels)
    throw stage_error(fmt::format("image is {}x{} = {} pixels, over "
                                  "max_pixels = {} (refused before decoding)",
                                  header.width(), header.height(), pixels,
                                  opts_.max_pixels));
  if (opts_.max_frames > 0 && header.get_typeof("n-pages") != 0) {
    auto pages = header.get_int("n-pages");
    if (pages > opts_.max_frames)
      throw stage_error(fmt::format("image has {} pages (animation frames), "
                                    "over max_frames = {} (refused before "
                                    "decoding)",
                                    pages, opts_.max_frames));
  }
}

} // namespace pixline
