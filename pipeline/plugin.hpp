#pragma once

// Plugins: shared libraries that add stages to pixline without recompiling
// it. A plugin is compiled against pixline's headers and exports one symbol,
// made by PIXLINE_PLUGIN; pixline opens it with dlopen, checks that both were
// built for the same interface, and calls its registration function with the
// stage registry, the same call the built-in stages use.
//
//   // pixelate.cpp, built with add_library(pixelate MODULE pixelate.cpp)
//   void register_pixelate(pixline::stage_registry& registry) {
//     registry.add(pixelate_spec().filter<pixelate_stage>());
//   }
//   PIXLINE_PLUGIN("pixelate", register_pixelate)
//
// docs/extending.md walks through a whole plugin.

#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <vips/version.h>

#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Bumped whenever a change to pixline's headers breaks plugins built
/// against the old ones (a new virtual in `stage`, a changed struct layout).
inline constexpr int plugin_abi_version = 2;

/// What a plugin exports (as `pixline_plugin_v1`, see PIXLINE_PLUGIN).
/// `abi` comes first and never moves, so pixline can read it from a plugin
/// of any version before it trusts anything else.
struct plugin_descriptor {
  int abi;
  /// The pixline version the plugin was compiled against, for messages.
  const char* pixline_version;
  /// The plugin's name, for messages and `pixline stages`.
  const char* name;
  /// C++ ABI the plugin was compiled with (GCC's __GXX_ABI_VERSION and the
  /// std::string layout): stage specs hold std::string and std::function.
  int cxx_abi;
  /// libvips major and minor version of the headers it was compiled with.
  int vips_major;
  int vips_minor;
  /// Sizes of the structs pixline and the plugin exchange: a cheap guard
  /// against headers that changed without an ABI bump.
  std::size_t image_size;
  std::size_t spec_size;
  std::size_t option_size;
  /// Adds the plugin's stages.
  void (*register_stages)(stage_registry& registry);
};

/// The C++ ABI of this compilation, as plugin_descriptor::cxx_abi.
constexpr int this_cxx_abi() {
#if defined(__GXX_ABI_VERSION) && defined(_GLIBCXX_USE_CXX11_ABI)
  return __GXX_ABI_VERSION * 10 + _GLIBCXX_USE_CXX11_ABI;
#elif defined(__GXX_ABI_VERSION)
  return __GXX_ABI_VERSION * 10;
#else
  return 0;
#endif
}

/// A descriptor for this compilation.
constexpr plugin_descriptor
make_plugin_descriptor(const char* name, void (*register_stages)(stage_registry&)) {
  return {plugin_abi_version,
          PIXLINE_VERSION,
          name,
          this_cxx_abi(),
          VIPS_MAJOR_VERSION,
          VIPS_MINOR_VERSION,
          sizeof(image),
          sizeof(stage_spec),
          sizeof(option_spec),
          register_stages};
}

/// The name of the symbol a plugin exports.
inline constexpr const char* plugin_symbol = "pixline_plugin_v1";

} // namespace pixline

/// Makes a shared library a pixline plugin: NAME is a string naming the
/// plugin, REGISTER a function `void(pixline::stage_registry&)` that adds its
/// stages. Use once, at namespace scope, in one source file of the plugin.
#define PIXLINE_PLUGIN(NAME, REGISTER)                                         \
  extern "C" __attribute__((visibility("default")))                            \
  const ::pixline::plugin_descriptor pixline_plugin_v1                         \
    = ::pixline::make_plugin_descriptor(NAME, REGISTER);

namespace pixline {

/// A plugin that could not be loaded: `what()` names the file and the
/// reason (not found, not a plugin, built for another pixline, a symbol
/// pixline does not have, a stage name already taken).
class plugin_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A plugin that was loaded.
struct loaded_plugin {
  std::string path;
  std::string name;
  /// The stages it registered.
  std::vector<std::string> stages;
};

/// Loads the plugin at `path` and registers its stages in `registry`. A
/// path with a slash is a file; a bare file name ("libmystage.so") is looked
/// up as dlopen does (LD_LIBRARY_PATH, then the system's library folders).
/// The library stays loaded for the life of the process (its code backs the
/// stages). Loading the same file twice registers it once. Throws
/// plugin_error; the registry is unchanged when it does.
loaded_plugin load_plugin(const std::string& path, stage_registry& registry);

} // namespace pixline
