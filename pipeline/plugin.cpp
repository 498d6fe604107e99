#include "pipeline/plugin.hpp"

#include <map>
#include <mutex>
#include <utility>

#include <dlfcn.h>

#include <fmt/format.h>

#include "pipeline/registry.hpp"
#include "pipeline/vips_modules.hpp"

namespace pixline {

namespace {

/// dlerror's text, or `fallback` when there is none.
std::string dl_error(const char* fallback) {
  const char* err = dlerror();
  return err ? err : fallback;
}

/// Closes a library on every path out of load_plugin but success.
struct library {
  void* handle = nullptr;
  ~library() {
    if (handle)
      dlclose(handle);
  }
  void* release() {
    return std::exchange(handle, nullptr);
  }
};

/// What the plugin was built for that this pixline is not, or "".
std::string mismatch(const plugin_descriptor& d) {
  auto built = fmt::format(" (the plugin was built against pixline {})",
                           d.pixline_version ? d.pixline_version : "?");
  if (d.cxx_abi != this_cxx_abi())
    return fmt::format("it was compiled with another C++ ABI ({} here, {} in "
                       "the plugin){}",
                       this_cxx_abi(), d.cxx_abi, built);
  if (d.vips_major != VIPS_MAJOR_VERSION || d.vips_minor != VIPS_MINOR_VERSION)
    return fmt::format("it was compiled against libvips {}.{}, pixline "
                       "against {}.{}{}",
                       d.vips_major, d.vips_minor, VIPS_MAJOR_VERSION,
                       VIPS_MINOR_VERSION, built);
  if (d.image_size != sizeof(image) || d.spec_size != sizeof(stage_spec)
      || d.option_size != sizeof(option_spec))
    return "its pixline headers do not match this pixline's (struct sizes "
           "differ); rebuild it against this pixline"
           + built;
  if (!d.register_stages)
    return "its descriptor has no registration function";
  return {};
}

// Descriptors of the plugins loaded so far, by library handle. Libraries
// stay loaded for the life of the process: their code backs the stages.
std::mutex loaded_mutex;
std::map<void*, const plugin_descriptor*>& loaded_by_handle() {
  static std::map<void*, const plugin_descriptor*> loaded;
  return loaded;
}

} // namespace

loaded_plugin load_plugin(const std::string& path, stage_registry& registry) {
  auto fail = [&](const std::string& reason) -> plugin_error {
    return plugin_error(fmt::format("plugin {}: {}", path, reason));
  };
  if (path.empty())
    throw plugin_error("plugin: an empty path");
  // A plugin's stages may call any libvips operation, those of libvips'
  // modules too.
  load_vips_modules();
  std::lock_guard guard{loaded_mutex};
  // RTLD_NOW: a symbol the plugin needs and pixline lacks is reported here,
  // by name, not later as a crash in the middle of a run. RTLD_LOCAL: one
  // plugin's symbols do not leak into another's.
  dlerror();
  library lib{dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)};
  if (!lib.handle)
    throw fail(fmt::format("cannot load it: {}", dl_error("dlopen failed")));
  const plugin_descriptor* descriptor = nullptr;
  if (auto it = loaded_by_handle().find(lib.handle);
      it != loaded_by_handle().end()) {
    // Opened before (dlopen counted one more reference, which `lib` drops).
    descriptor = it->second;
  } else {
    dlerror();
    auto symbol = dlsym(lib.handle, plugin_symbol);
    if (!symbol)
      throw fail(fmt::format("not a pixline plugin: it has no symbol {} "
                             "(a plugin declares itself with "
                             "PIXLINE_PLUGIN(name, register_function))",
                             plugin_symbol));
    // The ABI number is the descriptor's first member in every version, so
    // it can be read before the rest is trusted.
    int abi = *static_cast<const int*>(symbol);
    if (abi != plugin_abi_version)
      throw fail(fmt::format("built for plugin ABI {}, this pixline ({}) "
                             "loads ABI {}; rebuild the plugin against this "
                             "pixline's headers",
                             abi, PIXLINE_VERSION, plugin_abi_version));
    descriptor = static_cast<const plugin_descriptor*>(symbol);
    if (auto why = mismatch(*descriptor); !why.empty())
      throw fail(why);
    loaded_by_handle().emplace(lib.release(), descriptor);
  }

  // Register into a scratch registry first, so a plugin that throws halfway
  // or reuses a name leaves the real one untouched.
  stage_registry added;
  try {
    descriptor->register_stages(added);
  } catch (const std::exception& e) {
    throw fail(fmt::format("its registration failed: {}", e.what()));
  } catch (...) {
    throw fail("its registration failed with an unknown exception");
  }
  loaded_plugin result;
  result.path = path;
  result.name = descriptor->name ? descriptor->name : path;
  auto origin = fmt::format("plugin {} ({})", result.name, path);
  size_t already = 0;
  for (auto* spec : added.all()) {
    result.stages.push_back(spec->name);
    if (auto existing = registry.find(spec->name)) {
      // The same plugin named twice (config and command line) is loaded
      // once; anything else by that name is a clash.
      if (existing->origin.rfind("plugin " + result.name + " (", 0) == 0) {
        ++already;
        continue;
      }
      throw fail(fmt::format("it registers a stage '{}', but {} already has "
                             "one by that name",
                             spec->name,
                             existing->origin.empty() ? "pixline"
                                                      : existing->origin));
    }
    if (!spec->make)
      throw fail(fmt::format("its stage '{}' cannot be built (a plugin "
                             "registers filters: spec_builder<...>::filter)",
                             spec->name));
  }
  if (result.stages.empty())
    throw fail("it registers no stage");
  if (already == result.stages.size())
    return result;
  if (already != 0)
    throw fail("some of its stages are registered already, some not");
  for (auto* spec : added.all()) {
    auto copy = *spec;
    copy.origin = origin;
    registry.add(std::move(copy));
  }
  registry.add_plugin(path);
  return result;
}

} // namespace pixline
