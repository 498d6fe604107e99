#include "actors/io/writer.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <tuple>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <glib.h>
#include <vips/vips8>

#include "actors/io/deadline.hpp"
#include "actors/filters/pixels.hpp"
#include "pipeline/naming.hpp"
#include "pipeline/registry.hpp"
#include "pipeline/stage.hpp"

namespace fs = std::filesystem;

namespace pixline {

namespace {

/// `format`'s choices: "auto", then every format.
std::vector<std::string> format_names() {
  std::vector<std::string> names{"auto"};
  for (auto& f : output_formats())
    names.push_back(f.name);
  return names;
}

/// Whether two formats' declarations of one option agree.
bool same_declaration(const option_spec& a, const option_spec& b) {
  return a.type == b.type && a.default_value == b.default_value
         && a.min == b.min && a.max == b.max && a.choices == b.choices;
}

/// Adds every format's options to the save stage's spec, each once: it
/// applies with the formats that declare it (and `auto`), and sets each of
/// their settings.
void add_format_options(spec_builder<writer_options>& b) {
  std::vector<std::string> added;
  for (auto& first : output_formats())
    for (auto& opt : first.spec.options) {
      if (std::find(added.begin(), added.end(), opt.name) != added.end())
        continue;
      added.push_back(opt.name);
      std::vector<std::string> takers;
      for (auto& f : output_formats())
        if (auto other = f.spec.find(opt.name)) {
          if (!same_declaration(opt, *other))
            throw std::logic_error(
              fmt::format("save: formats {} and {} declare option '{}' "
                          "differently",
                          first.name, f.name, opt.name));
          takers.push_back(f.name);
        }
      auto shared = opt;
      if (takers.size() > 1)
        shared.doc = shared_option_doc(opt.name);
      if (shared.doc.empty())
        throw std::logic_error(fmt::format(
          "save: option '{}', which several formats take, has no shared "
          "doc (shared_option_doc)",
          opt.name));
      takers.push_back("auto");
      b.option(shared,
               [name = opt.name](writer_options& o, const option_value& v) {
                 option_map one{{name, v}};
                 for (auto& f : output_formats())
                   if (f.spec.find(name))
                     f.apply(o.formats, one);
               })
        .only_when("format", takers);
    }
}

} // namespace

const spec_builder<writer_options>& writer_spec() {
  static const auto spec = [] {
    spec_builder<writer_options> b(
      "save", "Encode each image and name its output, which the commit stage "
              "then writes to a temporary file beside its final name, makes "
              "durable and visible; options go in [sink]");
    b.example("[sink]\npath = \"out\"\nformat = \"webp\"\nquality = 80\n"
              "naming = \"{stem}_{width}x{height}.{ext}\"")
      .text("path", &writer_options::path, "out",
            "Output folder (created when missing)")
      .choice("format", &writer_options::format, "auto", format_names(),
              "Output format; 'auto' keeps the input's format where it can "
              "be written and uses jpeg otherwise. Each format's own options "
              "are below")
      .text("naming", &writer_options::naming, "{dir}/{stem}.{ext}",
            "Output file name template; placeholders: {stem} {ext} "
            "{format} {dir} {width} {height} {hash} (16 hex digits of the "
            "SHA-256 of the encoded file, for cache-busting names). The "
            "default keeps the input's sub-folder, so a recursive source "
            "does not put files of one name into one folder")
      .choice("overwrite", &writer_options::overwrite, "replace",
              {"replace", "skip", "error"},
              "What to do when the output file exists: replace it, skip "
              "the image, or fail the image")
      .choice("on_collision", &writer_options::on_collision, "fail",
              {"fail", "suffix", "replace"},
              "What to do when two inputs of one run (or one watch) are "
              "named to the same output (photo.jpg and photo.png to "
              "photo.webp): 'fail' the later one, naming the input that "
              "has the name; 'suffix' gives it the first free name "
              "photo.1.webp, photo.2.webp...; 'replace' lets the later "
              "one overwrite the earlier")
      .boolean("strip", &writer_options::strip, true,
               "Drop metadata (EXIF, XMP, IPTC; the ICC profile is kept "
               "only when false)")
      .number("timeout", &writer_options::timeout, 120.0, 0.0, 86400.0,
              "Seconds one image may take to decode, process and encode "
              "(the whole lazy pipeline runs here) before libvips is told "
              "to stop; 0 means no limit")
      .boolean("fsync", &writer_options::fsync, true,
               "Flush each output to the disk (fsync) before it counts as "
               "written. false: outputs still appear whole (temporary "
               "file, then rename) and a crash of pixline loses none, but "
               "a crash of the machine or a power cut can lose the last "
               "seconds' outputs, as with tools that do not fsync "
               "(mogrify, vipsthumbnail); faster where fsync is slow. Not "
               "allowed with on_success = \"delete\"");
    add_format_options(b);
    for (auto& f : output_formats())
      b.part(f.spec);
    return b;
  }();
  return spec;
}

void register_writer(stage_registry& registry) {
  registry.add(writer_spec().spec());
}

const spec_builder<commit_options>& commit_spec() {
  static const auto spec
    = spec_builder<commit_options>(
        "commit",
        "Make each output durable and visible: write it to a temporary "
        "file beside its final name, fsync it (unless its sink sets fsync = "
        "false), rename it into place (a manifest last); the last stage, no "
        "options. A pipeline in which no sink fsyncs has no commit stage: "
        "its save workers write and rename");
  return spec;
}

void register_commit(stage_registry& registry) {
  registry.add(commit_spec().spec());
}

std::string extension_of(const std::string& format) {
  if (auto f = find_output_format(format))
    return f->extension;
  return format;
}

writer::writer(writer_options opts)
  : opts_(std::move(opts)), root_(std::make_shared<output_root>(opts_.path)) {
}

namespace {

/// The output format for an image whose input format is `input`.
std::string resolve_format(const std::string& wanted, const std::string& input) {
  if (wanted != "auto")
    return wanted;
  if (input == "jpeg" || input == "png" || input == "webp" || input == "tiff"
      || input == "gif" || input == "jxl")
    return input;
  if (input == "heif")
    return "avif";
  return "jpeg";
}

/// {hash}: the first 16 hex digits (64 bits) of the SHA-256 of the file.
std::string content_hash(const void* data, size_t size) {
  std::unique_ptr<gchar, decltype(&g_free)> hex(
    g_compute_checksum_for_data(G_CHECKSUM_SHA256,
                                static_cast<const guchar*>(data), size),
    &g_free);
  return std::string(hex.get(), 16);
}

/// The permissions of an output: 0644 under the umask the process started
/// with, read from /proc before main() (before any thread exists). Set with
/// fchmod rather than left to open(), because Debian 12's liborc briefly sets
/// the umask to 0066 while it maps code memory, and a file created on another
/// thread at that moment would come out unreadable to others.
mode_t startup_output_mode() {
  mode_t mask = 022;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("Umask:", 0) == 0) {
      mask = mode_t(std::stoul(line.substr(6), nullptr, 8));
      break;
    }
  return mode_t(0644 & ~mask);
}

const mode_t output_mode = startup_output_mode();

} // namespace

staged_file::staged_file(safe_dir dir, std::string temp, std::string name,
                         fs::path target, unique_fd fd, bool durable)
  : dir_(std::move(dir)), temp_(std::move(temp)), name_(std::move(name)),
    target_(std::move(target)), fd_(std::move(fd)), durable_(durable) {
}

staged_file::staged_file(std::shared_ptr<const safe_dir> root, fs::path rel,
                         output_bytes bytes, bool durable)
  : target_(root->path() / rel), durable_(durable),
    pending_(std::make_unique<pending_write>(
      pending_write{std::move(root), std::move(rel), std::move(bytes)})) {
}

staged_file::~staged_file() {
  if (done_ || !dir_)
    return;
  fd_.close();
  dir_->remove(temp_);
}

void staged_file::commit() {
  if (done_)
    return;
  done_ = true;
  if (pending_) {
    auto p = std::move(pending_);
    stage_file(*p->root, p->rel, p->bytes.data, p->bytes.size, durable_)
      ->commit();
    return;
  }
  auto fail = [&](const char* what, int err) {
    dir_->remove(temp_);
    throw stage_error(fmt::format("{}: {}: {}", target_.string(), what,
                                  std::strerror(err)));
  };
  if (durable_ && ::fsync(fd_.get()) != 0) {
    int err = errno;
    fd_.close();
    fail("fsync failed", err);
  }
  if (fd_.close() != 0)
    fail("close failed", errno);
  // Both names relative to the folder's descriptor: a symlink at the final
  // name is replaced, never followed.
  if (int err = dir_->rename(temp_, name_))
    fail("rename failed", err);
}

std::shared_ptr<staged_file> stage_file(const safe_dir& root,
                                        const fs::path& rel, const void* data,
                                        size_t size, bool durable) {
  auto target = root.path() / rel;
  auto name = rel.filename().string();
  std::optional<safe_dir> dir;
  std::pair<unique_fd, std::string> temp;
  try {
    dir = root.open_below(rel.parent_path(), true);
    temp = dir->create_temp();
  } catch (const std::exception& e) {
    throw stage_error(fmt::format("{}: {}", target.string(), e.what()));
  }
  int fd = temp.first.get();
  // From here the staged file owns the descriptor and the temporary file.
  auto staged = std::make_shared<staged_file>(
    std::move(*dir), temp.second, name, target, std::move(temp.first),
    durable);
  auto fail = [&](const char* what, int err) {
    throw stage_error(fmt::format("{}: {}: {}", target.string(), what,
                                  std::strerror(err)));
  };
  if (::fchmod(fd, output_mode) != 0)
    fail("chmod failed", errno);
  if (int err = write_all(fd, data, size))
    fail("write failed", err);
  return staged;
}

std::shared_ptr<staged_file> stage_file(const fs::path& target,
                                        const void* data, size_t size,
                                        bool durable) {
  auto folder = target.parent_path().empty() ? fs::path(".")
                                             : target.parent_path();
  std::optional<safe_dir> root;
  try {
    root = safe_dir::open_root(folder, false);
  } catch (const std::exception& e) {
    throw stage_error(e.what());
  }
  return stage_file(*root, target.filename(), data, size, durable);
}

std::optional<std::string> output_claims::claim(const std::string& output,
                                                const std::string& input,
                                                bool* fresh) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (fresh)
    *fresh = false;
  if (auto it = owners_.find(output); it != owners_.end())
    return it->second == input ? std::nullopt
                               : std::optional<std::string>{it->second};
  if (earlier_)
    if (auto other = earlier_(output, input))
      return other;
  owners_.emplace(output, input);
  if (fresh)
    *fresh = true;
  return std::nullopt;
}

void output_claims::release(const std::string& output,
                            const std::string& input) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (auto it = owners_.find(output); it != owners_.end()
                                      && it->second == input)
    owners_.erase(it);
}

void output_claims::settle(const std::string& output,
                           const std::string& input) {
  release(output, input);
}

std::size_t output_claims::size() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return owners_.size();
}

void commit_outputs(job& j) {
  std::vector<std::string> errors;
  for (auto& file : j.staged) {
    bool committed = false;
    // A manifest after a failed output would list a file that is not there.
    if (!file->is_manifest() || errors.empty()) {
      try {
        file->commit();
        committed = true;
      } catch (const std::exception& e) {
        errors.push_back(e.what());
      }
    }
    if (!committed) {
      std::erase(j.outputs, file->target().string());
      std::erase_if(j.written, [&](const output_info& o) {
        return o.path == file->target().string();
      });
    }
  }
  // Uncommitted ones remove their temporary files here.
  j.staged.clear();
  if (errors.empty())
    return;
  auto text = fmt::format("{}", fmt::join(errors, "; "));
  if (!j.failed())
    throw stage_error(text);
  j.error += "; " + text;
}

name_fields input_name_fields(const job& j) {
  fs::path rel{j.relative.empty() ? fs::path(j.path).filename().string()
                                  : j.relative};
  name_fields fields;
  fields.stem = rel.stem().string();
  fields.dir = rel.parent_path().string();
  return fields;
}

void writer::write(job& j) {
  if (!j.img)
    throw stage_error("no image to write");
  if (auto written = save(*j.img, j)) {
    j.outputs.push_back(written->path);
    j.written.push_back(*written);
    if (written->staged)
      j.staged.push_back(std::move(written->staged));
  } else
    j.skipped = true;
  j.img.reset();
}

std::optional<output_record> writer::save(const image& img, const job& j) {
  auto format = resolve_format(opts_.format, img.input_format);
  auto fields = input_name_fields(j);
  fields.format = format;
  fields.ext = extension_of(format);
  fields.width = img.pixels.width();
  fields.height = img.pixels.height();
  std::shared_ptr<void> encoded;
  size_t size = 0;
  auto encode_now = [&] {
    auto [buf, n] = encode_guarded(img.pixels, format);
    encoded = std::shared_ptr<void>(std::move(buf));
    size = n;
  };
  // A name with the output's hash in it exists only once the output does.
  if (uses_hash(opts_.naming)) {
    encode_now();
    fields.hash = content_hash(encoded.get(), size);
  }
  bool fresh = false;
  auto rel = target_for(fields, j, &fresh);
  return write_claimed(rel, fresh, j, format, fields.width, fields.height,
                       [&] {
                         if (!encoded)
                           encode_now();
                         return output_bytes{encoded, encoded.get(), size};
                       });
}

wire_output writer::encode(const image& img) const {
  wire_output out;
  out.format = resolve_format(opts_.format, img.input_format);
  out.width = img.pixels.width();
  out.height = img.pixels.height();
  auto [encoded, size] = encode_guarded(img.pixels, out.format);
  auto bytes = static_cast<const std::uint8_t*>(encoded.get());
  out.bytes.assign(bytes, bytes + size);
  return out;
}

std::optional<output_record> writer::store(const job& j,
                                           const wire_output& out) {
  auto fields = input_name_fields(j);
  fields.format = out.format;
  fields.ext = extension_of(out.format);
  fields.width = out.width;
  fields.height = out.height;
  if (uses_hash(opts_.naming))
    fields.hash = content_hash(out.bytes.data(), out.bytes.size());
  bool fresh = false;
  auto rel = target_for(fields, j, &fresh);
  return write_claimed(rel, fresh, j, out.format, out.width, out.height, [&] {
    if (!defer_)
      return output_bytes{nullptr, out.bytes.data(), out.bytes.size()};
    // `out` is gone by the time a deferred output is written.
    auto copy = std::make_shared<const std::vector<std::uint8_t>>(out.bytes);
    return output_bytes{copy, copy->data(), copy->size()};
  });
}

std::optional<output_record> writer::write_claimed(
  const fs::path& rel, bool fresh, const job& j, const std::string& format,
  int width, int height,
  const std::function<output_bytes()>& bytes) {
  try {
    if (skips(rel))
      return std::nullopt;
    auto data = bytes();
    auto size = data.size;
    auto staged = place(rel, std::move(data));
    return output_record{{(fs::path(opts_.path) / rel).string(), format,
                          width, height, size},
                         std::move(staged)};
  } catch (...) {
    // A name this image took and never used is free for the next one.
    if (fresh)
      release(rel, j);
    throw;
  }
}

encoded_file writer::encode_guarded(const vips::VImage& img,
                                    const std::string& format) const {
  auto saver = find_output_format(format);
  if (!saver)
    throw stage_error(fmt::format("no output format \"{}\"", format));
  auto ready = saver->prepare ? saver->prepare(img, opts_.formats) : img;
  // On the image that is written: libvips reports progress on that one.
  deadline_guard deadline{ready, opts_.timeout};
  save_context context{opts_.strip, deadline};
  try {
    return saver->encode(ready, opts_.formats, context);
  } catch (const vips::VError& e) {
    auto text = vips_error_text(e);
    if (deadline.expired())
      throw stage_error(fmt::format("took longer than timeout = {} s; "
                                    "stopped ({})",
                                    opts_.timeout, text));
    throw stage_error(text);
  }
}

std::shared_ptr<const safe_dir> output_root::get() {
  std::lock_guard<std::mutex> guard{mutex_};
  struct stat st;
  if (dir_ && ::fstat(dir_->fd(), &st) == 0 && st.st_nlink > 0)
    return dir_;
  try {
    dir_ = std::make_shared<const safe_dir>(safe_dir::open_root(path_, true));
  } catch (const std::exception& e) {
    throw stage_error(e.what());
  }
  return dir_;
}

std::shared_ptr<const safe_dir> writer::root() const {
  return root_->get();
}

fs::path writer::target_for(const name_fields& fields, const job& j,
                            bool* fresh) {
  fs::path rel;
  try {
    rel = render_name(opts_.naming, fields);
  } catch (const std::exception& e) {
    throw stage_error(e.what());
  }
  return claim(rel, j, fresh);
}

fs::path writer::claim(const fs::path& rel, const job& j, bool* fresh) {
  if (fresh)
    *fresh = false;
  if (opts_.on_collision == "replace")
    return rel;
  auto name = rel.filename().string();
  for (int n = 0;; ++n) {
    auto candidate = rel.parent_path() / versioned_name(name, n);
    auto owner = claims_->claim((fs::path(opts_.path) / candidate).string(),
                                j.path, fresh);
    if (!owner)
      return candidate;
    if (opts_.on_collision == "fail")
      throw stage_error(fmt::format(
        "output {} is already the output of {} (on_collision = \"fail\")",
        (fs::path(opts_.path) / rel).string(), *owner));
  }
}

void writer::release(const fs::path& rel, const job& j) {
  claims_->release((fs::path(opts_.path) / rel).string(), j.path);
}

bool writer::skips(const fs::path& rel) const {
  if (opts_.overwrite == "replace")
    return false;
  std::optional<safe_dir> dir;
  try {
    dir = root()->open_below(rel.parent_path(), false);
  } catch (const std::exception& e) {
    throw stage_error(fmt::format("{}: {}",
                                  (fs::path(opts_.path) / rel).string(),
                                  e.what()));
  }
  if (!dir || !dir->has(rel.filename().string()))
    return false;
  if (opts_.overwrite == "skip")
    return true;
  if (opts_.overwrite == "error")
    throw stage_error(fmt::format("output {} exists (overwrite = \"error\")",
                                  (fs::path(opts_.path) / rel).string()));
  return false;
}

std::shared_ptr<staged_file> writer::place(const fs::path& rel,
                                           output_bytes data) const {
  // Deferred, the temporary file is made by whoever commits: creating a
  // file costs the file system more than writing a thumbnail to it, and
  // the commit stage's workers pay that while this worker encodes the next
  // image (bench/HISTORY.md).
  if (defer_)
    return std::make_shared<staged_file>(root(), rel, std::move(data),
                                         opts_.fsync);
  stage_file(*root(), rel, data.data, data.size, opts_.fsync)->commit();
  return nullptr;
}

} // namespace pixline
