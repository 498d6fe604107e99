#pragma once
// libvips' dynamic modules, loaded when an image needs them.
//
// Debian's libvips builds five formats as modules: HEIF/AVIF (libheif),
// JPEG XL, PDF (poppler), whole-slide images (OpenSlide) and everything
// ImageMagick reads or writes. VIPS_INIT loads all five, with every library
// they pull in, in every process that starts libvips: pixline's own process
// and each worker process. Resolving those libraries' symbols is most of the
// CPU a worker process spends before its first image, and their pages count
// in its memory, while a run of JPEG, PNG and WebP files needs none of them.
//
// So pixline keeps libvips from loading its modules at start-up and loads
// them, all at once and at most once per process, the first time something
// may need them: an input that is not a JPEG, PNG or WebP file, an output
// format from a module (avif, heif, jxl), a `vips:` stage, a watermark image
// of another format, a plugin. What libvips can read and write is the same
// as before; only when it is set up changes.

#include <string>
#include <string_view>

namespace pixline {

/// Call before VIPS_INIT, while the process has one thread: keeps libvips
/// from loading its modules at start-up. libvips reads its install prefix
/// from VIPSHOME; pixline points that at a folder that can never exist, so
/// libvips finds no module folder, and keeps the module folder libvips
/// would have used for load_vips_modules (the one beside the libvips
/// library, or the one a VIPSHOME set before names). When a VIPSHOME set
/// before gives libvips no module folder, nothing changes: libvips loads
/// none, as it would have. Worker processes inherit the setting.
void defer_vips_modules();

/// Loads libvips' modules unless they are loaded already (by libvips itself
/// or an earlier call). Thread-safe; the first call does the work, the
/// others wait for it. Logs how many it loaded (debug) and any that failed
/// (warning, as libvips does; the others are loaded all the same), and
/// returns what failed, or an empty string.
std::string load_vips_modules();

/// Whether this process has libvips' modules now.
bool vips_modules_loaded();

/// Whether a file named with `suffix` (".avif", lower case) may be one only
/// a module's loader reads by name, so that the modules must be loaded to
/// know whether it is an image: one of the suffixes the loaders of
/// Debian's modules declare (heif, jxl, poppler, openslide; magick's
/// declares none), for the modules in the module folder. Any suffix when
/// that folder holds a module this table does not know (a libvips built
/// another way): only loading it can tell. Never loads a module.
bool module_may_read(std::string_view suffix);

/// The libvips file loader for a file that starts with `head`: "jpegload",
/// "pngload" or "webpload" when `head` begins with a JPEG, PNG or WebP
/// signature (the loaders libvips' own format search picks for those
/// files, with or without modules), "" for anything else.
std::string loader_for_signature(std::string_view head);

/// Loads the modules when a file that starts with `head` (its first bytes)
/// may need one to be read: anything loader_for_signature does not name.
void load_vips_modules_for(std::string_view head);

/// The first 12 bytes of a file (fewer if it is shorter; none if it cannot
/// be read): read at offset 0 of `fd` when it is open (its file offset
/// untouched), else of `path`, opened for this.
std::string file_head(const std::string& path, int fd = -1);

/// load_vips_modules_for the first bytes of the file `path` (all modules
/// when it cannot be read: libvips' own error then names the file).
void load_vips_modules_for_file(const std::string& path);

} // namespace pixline
