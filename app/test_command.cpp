#include "app/test_command.hpp"

#include "app/command.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>
#include <vips/vips8>

#include "config/config.hpp"
#include "config/overrides.hpp"
#include "pipeline/job.hpp"
#include "config/plugins.hpp"
#include "pipeline/plugin.hpp"
#include "pipeline/registry.hpp"
#include "pipeline/vips_modules.hpp"
#include "actors/run/run.hpp"

namespace pixline {

namespace {

namespace fs = std::filesystem;

/// What every output matching `file` must be.
struct output_check {
  std::string file = "*";
  std::optional<std::string> format;
  std::optional<int64_t> width;
  std::optional<int64_t> height;
  std::optional<int64_t> bands;
  std::optional<int64_t> max_bytes;
  std::optional<fs::path> reference;
  double max_mean_diff = 1.0;
};

/// What the run manifest must say of the inputs matching `input`.
struct manifest_check {
  std::string input;
  std::optional<int64_t> outputs;
  std::vector<std::string> urls;
};

struct test_case {
  std::string name;
  source_location where;
  std::vector<fs::path> inputs;
  std::vector<std::string> sets;
  std::optional<int64_t> outputs;
  std::vector<output_check> checks;
  std::vector<manifest_check> manifest;
  bool expect_failure = false;
  std::string fail_stage;
  std::string fail_message;
};

/// A pipeline and the cases that test it.
struct test_suite {
  fs::path pipeline;
  std::vector<test_case> cases;
};

/// Reads `[[test]]` tables with line and column in every error.
class case_reader {
public:
  explicit case_reader(fs::path file) : file_(std::move(file)) {
  }

  std::vector<test_case> read(const toml::table& root) const {
    std::vector<test_case> cases;
    auto node = root.get("test");
    if (!node)
      return cases;
    auto array = node->as_array();
    if (!array)
      fail(node->source(), "'test' must be an array of tables (write "
                           "[[test]] with two brackets)");
    for (auto& item : *array) {
      auto table = item.as_table();
      if (!table)
        fail(item.source(), "each [[test]] must be a table");
      cases.push_back(read_case(*table));
    }
    return cases;
  }

private:
  source_location at(const toml::source_region& r) const {
    return {file_.string(), std::max(1, int(r.begin.line)),
            std::max(1, int(r.begin.column))};
  }

  [[noreturn]] void fail(const toml::source_region& r,
                         const std::string& reason) const {
    throw config_error(at(r), reason);
  }

  fs::path beside(const std::string& path) const {
    fs::path p{path};
    return p.is_absolute() ? p : file_.parent_path() / p;
  }

  std::string string(const toml::node& n, const char* what) const {
    auto v = n.value<std::string>();
    if (!v)
      fail(n.source(), fmt::format("'{}' must be a string", what));
    return *v;
  }

  int64_t natural(const toml::node& n, const char* what) const {
    auto v = n.value<int64_t>();
    if (!v || *v < 0)
      fail(n.source(), fmt::format("'{}' must be a whole number, 0 or more",
                                   what));
    return *v;
  }

  std::vector<std::string> strings(const toml::node& n,
                                   const char* what) const {
    std::vector<std::string> result;
    if (n.is_string())
      return {string(n, what)};
    auto array = n.as_array();
    if (!array)
      fail(n.source(), fmt::format("'{}' must be a string or an array of "
                                   "strings",
                                   what));
    for (auto& item : *array)
      result.push_back(string(item, what));
    return result;
  }

  [[noreturn]] void unknown(const toml::key& key, const char* table,
                            const std::vector<std::string>& keys) const {
    std::string name{key.str()};
    auto hint = closest(name, keys);
    fail(key.source(),
         fmt::format("unknown key '{}' in {}{}", name, table,
                     hint ? fmt::format(" (did you mean '{}'?)", *hint)
                          : fmt::format(" (keys: {})", fmt::join(keys, ", "))));
  }

  test_case read_case(const toml::table& table) const {
    static const std::vector<std::string> keys{
      "name", "inputs", "input", "set", "outputs", "output", "fail",
      "manifest"};
    test_case c;
    c.where = at(table.source());
    for (auto&& [key, value] : table) {
      std::string name{key.str()};
      if (name == "name") {
        c.name = string(value, "name");
      } else if (name == "inputs" || name == "input") {
        for (auto& p : strings(value, "inputs"))
          c.inputs.push_back(beside(p));
      } else if (name == "set") {
        c.sets = strings(value, "set");
      } else if (name == "outputs") {
        c.outputs = natural(value, "outputs");
      } else if (name == "output") {
        if (auto t = value.as_table()) {
          c.checks.push_back(read_output(*t));
        } else if (auto a = value.as_array()) {
          for (auto& item : *a) {
            auto t = item.as_table();
            if (!t)
              fail(item.source(), "each [[test.output]] must be a table");
            c.checks.push_back(read_output(*t));
          }
        } else {
          fail(value.source(), "'output' must be a table ([test.output] or "
                               "[[test.output]])");
        }
      } else if (name == "manifest") {
        auto a = value.as_array();
        if (!a)
          fail(value.source(), "'manifest' must be an array of tables "
                               "([[test.manifest]])");
        for (auto& item : *a) {
          auto t = item.as_table();
          if (!t)
            fail(item.source(), "each [[test.manifest]] must be a table");
          c.manifest.push_back(read_manifest(*t));
        }
      } else if (name == "fail") {
        auto t = value.as_table();
        if (!t)
          fail(value.source(), "'fail' must be a table ([test.fail])");
        c.expect_failure = true;
        for (auto&& [k, v] : *t) {
          std::string kn{k.str()};
          if (kn == "stage")
            c.fail_stage = string(v, "stage");
          else if (kn == "message")
            c.fail_message = string(v, "message");
          else
            unknown(k, "[test.fail]", {"stage", "message"});
        }
      } else {
        unknown(key, "[[test]]", keys);
      }
    }
    if (c.name.empty())
      fail(table.source(), "a [[test]] needs a name (name = \"...\")");
    if (c.inputs.empty())
      fail(table.source(), fmt::format("test '{}' has no inputs (inputs = "
                                       "[\"fixtures/photo.jpg\"])",
                                       c.name));
    if (c.expect_failure && (!c.checks.empty() || c.outputs))
      fail(table.source(), fmt::format("test '{}' expects its inputs to "
                                       "fail and to have outputs: choose "
                                       "one",
                                       c.name));
    return c;
  }

  manifest_check read_manifest(const toml::table& table) const {
    manifest_check m;
    for (auto&& [key, value] : table) {
      std::string name{key.str()};
      if (name == "input")
        m.input = string(value, "input");
      else if (name == "outputs")
        m.outputs = natural(value, "outputs");
      else if (name == "urls")
        m.urls = strings(value, "urls");
      else
        unknown(key, "[[test.manifest]]", {"input", "outputs", "urls"});
    }
    if (m.input.empty())
      fail(table.source(), "a [[test.manifest]] needs input = \"NAME\" (an "
                           "input's file name, or a pattern)");
    return m;
  }

  output_check read_output(const toml::table& table) const {
    static const std::vector<std::string> keys{
      "file",      "format",    "width",        "height",       "bands",
      "max_bytes", "reference", "max_mean_diff"};
    output_check o;
    for (auto&& [key, value] : table) {
      std::string name{key.str()};
      if (name == "file")
        o.file = string(value, "file");
      else if (name == "format")
        o.format = string(value, "format");
      else if (name == "width")
        o.width = natural(value, "width");
      else if (name == "height")
        o.height = natural(value, "height");
      else if (name == "bands")
        o.bands = natural(value, "bands");
      else if (name == "max_bytes")
        o.max_bytes = natural(value, "max_bytes");
      else if (name == "reference")
        o.reference = beside(string(value, "reference"));
      else if (name == "max_mean_diff") {
        auto v = value.value<double>();
        if (!v || *v < 0 || *v > 255)
          fail(value.source(), "'max_mean_diff' must be a number from 0 to "
                               "255 (the largest mean difference per band)");
        o.max_mean_diff = *v;
      } else
        unknown(key, "[test.output]", keys);
    }
    return o;
  }

  fs::path file_;
};

toml::table parse_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw config_error({file.string(), 0, 0}, "cannot open the test file");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_toml_text(text.str(), file.string());
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size()
         && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

/// A pipeline with the cases in it and in `NAME_test.toml` beside it; or,
/// given a test file, that file's cases against `pipeline = "..."` or the
/// `NAME.toml` beside it.
test_suite suite_of(const fs::path& file) {
  test_suite suite;
  auto name = file.filename().string();
  if (ends_with(name, "_test.toml")) {
    auto root = parse_file(file);
    if (auto p = root.get("pipeline"); p && p->is_string())
      suite.pipeline = file.parent_path() / **p->as_string();
    else
      suite.pipeline = file.parent_path()
                       / (name.substr(0, name.size() - 10) + ".toml");
    suite.cases = case_reader{file}.read(root);
    if (!fs::exists(suite.pipeline))
      throw config_error({file.string(), 0, 0},
                         fmt::format("its pipeline {} does not exist (a "
                                     "NAME_test.toml tests NAME.toml beside "
                                     "it, or the file named by pipeline = "
                                     "\"...\")",
                                     suite.pipeline.string()));
    return suite;
  }
  suite.pipeline = file;
  suite.cases = case_reader{file}.read(parse_file(file));
  auto companion = file.parent_path()
                   / (file.stem().string() + "_test.toml");
  if (fs::exists(companion)) {
    auto more = case_reader{companion}.read(parse_file(companion));
    suite.cases.insert(suite.cases.end(), more.begin(), more.end());
  }
  return suite;
}

/// The `*_test.toml` files under `root`, outside hidden folders.
std::vector<fs::path> find_test_files(const fs::path& root) {
  std::vector<fs::path> found;
  std::error_code ec;
  fs::recursive_directory_iterator it{root, ec}, end;
  for (; it != end; it.increment(ec)) {
    if (ec)
      break;
    auto name = it->path().filename().string();
    if (it->is_directory() && !name.empty() && name[0] == '.') {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && ends_with(name, "_test.toml"))
      found.push_back(it->path().lexically_relative(root));
  }
  std::sort(found.begin(), found.end());
  return found;
}

/// A private folder for one case's outputs, removed afterwards.
class scratch_dir {
public:
  scratch_dir() {
    auto base = fs::temp_directory_path() / "pixline-test-XXXXXX";
    std::string name = base.string();
    if (!::mkdtemp(name.data()))
      throw std::runtime_error(fmt::format("cannot make a temporary folder "
                                           "in {}: {}",
                                           base.parent_path().string(),
                                           std::strerror(errno)));
    path_ = name;
  }
  ~scratch_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;

  const fs::path& path() const {
    return path_;
  }

private:
  fs::path path_;
};

/// The format name of a file libvips can read ("jpeg", "webp", "avif"...).
std::string format_of(const vips::VImage& image) {
  const char* loader = nullptr;
  if (vips_image_get_string(image.get_image(), "vips-loader", &loader) != 0
      || !loader)
    return "unknown";
  std::string name = loader;
  if (name.rfind("heifload", 0) == 0) {
    const char* compression = nullptr;
    if (vips_image_get_typeof(image.get_image(), "heif-compression")
        && vips_image_get_string(image.get_image(), "heif-compression",
                                 &compression)
             == 0
        && compression && std::string{compression} == "av1")
      return "avif";
    return "heif";
  }
  auto cut = name.find("load");
  return cut == std::string::npos ? name : name.substr(0, cut);
}

/// Whether `text` contains `part`, ignoring ASCII case.
bool contains_folded(const std::string& text, const std::string& part) {
  auto it = std::search(text.begin(), text.end(), part.begin(), part.end(),
                        [](unsigned char a, unsigned char b) {
                          return std::tolower(a) == std::tolower(b);
                        });
  return it != text.end();
}

bool same_format(std::string a, std::string b) {
  auto norm = [](std::string& s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (s == "jpg")
      s = "jpeg";
    if (s == "tif")
      s = "tiff";
  };
  norm(a);
  norm(b);
  return a == b;
}

/// Largest mean absolute difference over the bands, or a reason they
/// cannot be compared.
std::string compare_to_reference(const vips::VImage& out, const fs::path& ref,
                                 double limit) {
  vips::VImage expected;
  try {
    load_vips_modules_for_file(ref.string());
    expected = vips::VImage::new_from_file(ref.c_str());
  } catch (const vips::VError& e) {
    return fmt::format("cannot read reference {}: {}", ref.string(),
                       e.what());
  }
  if (out.width() != expected.width() || out.height() != expected.height())
    return fmt::format("is {}x{}, reference {} is {}x{}", out.width(),
                       out.height(), ref.string(), expected.width(),
                       expected.height());
  if (out.bands() != expected.bands())
    return fmt::format("has {} bands, reference {} has {}", out.bands(),
                       expected.bands(), ref.string());
  auto diff = (out.cast(VIPS_FORMAT_FLOAT) - expected.cast(VIPS_FORMAT_FLOAT))
                .abs();
  double worst = 0;
  int worst_band = 0;
  for (int b = 0; b < diff.bands(); ++b) {
    double mean = diff.extract_band(b).avg();
    if (mean > worst) {
      worst = mean;
      worst_band = b;
    }
  }
  if (worst > limit)
    return fmt::format("differs from {} by {:.2f} on average in band {} "
                       "(max_mean_diff = {})",
                       ref.string(), worst, worst_band, limit);
  return {};
}

/// Mismatches of one output against the checks whose pattern matches it.
void check_output(const fs::path& output, const test_case& c,
                  std::vector<std::string>& problems) {
  auto name = output.filename().string();
  std::error_code ec;
  auto size = fs::file_size(output, ec);
  if (ec) {
    problems.push_back(fmt::format("{}: reported written but cannot be "
                                   "read: {}",
                                   name, ec.message()));
    return;
  }
  for (auto& check : c.checks) {
    if (::fnmatch(check.file.c_str(), name.c_str(), 0) != 0)
      continue;
    vips::VImage image;
    try {
      load_vips_modules_for_file(output.string());
      image = vips::VImage::new_from_file(output.c_str());
      image.width(); // opened; the header is read
    } catch (const vips::VError& e) {
      problems.push_back(fmt::format("{}: not a readable image: {}", name,
                                     e.what()));
      continue;
    }
    if (check.format && !same_format(format_of(image), *check.format))
      problems.push_back(fmt::format("{}: format {}, expected {}", name,
                                     format_of(image), *check.format));
    if (check.width && image.width() != *check.width)
      problems.push_back(fmt::format("{}: width {}, expected {}", name,
                                     image.width(), *check.width));
    if (check.height && image.height() != *check.height)
      problems.push_back(fmt::format("{}: height {}, expected {}", name,
                                     image.height(), *check.height));
    if (check.bands && image.bands() != *check.bands)
      problems.push_back(fmt::format("{}: {} bands, expected {}", name,
                                     image.bands(), *check.bands));
    if (check.max_bytes && int64_t(size) > *check.max_bytes)
      problems.push_back(fmt::format("{}: {} bytes, expected at most {}",
                                     name, size, *check.max_bytes));
    if (check.reference) {
      try {
        auto why = compare_to_reference(image, *check.reference,
                                        check.max_mean_diff);
        if (!why.empty())
          problems.push_back(fmt::format("{}: {}", name, why));
      } catch (const vips::VError& e) {
        problems.push_back(fmt::format("{}: cannot compare with {}: {}",
                                       name, check.reference->string(),
                                       e.what()));
      }
    }
  }
}

/// Compares the run manifest with the case's [[test.manifest]] entries.
void check_manifest(const pipeline_config& config, const test_case& c,
                    std::vector<std::string>& problems) {
  auto& file = config.pipeline.manifest;
  if (file.empty() || file.find('{') != std::string::npos) {
    problems.push_back("[[test.manifest]] needs the pipeline's run manifest "
                       "([pipeline] manifest = \"FILE.json\")");
    return;
  }
  nlohmann::json manifest;
  try {
    std::ifstream in(file);
    manifest = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    problems.push_back(fmt::format("cannot read the run manifest: {}",
                                   e.what()));
    return;
  }
  auto& images = manifest["images"];
  for (auto& m : c.manifest) {
    bool any = false;
    for (auto& [input, outputs] : images.items()) {
      auto name = fs::path(input).filename().string();
      if (::fnmatch(m.input.c_str(), name.c_str(), 0) != 0
          && ::fnmatch(m.input.c_str(), input.c_str(), 0) != 0)
        continue;
      any = true;
      if (m.outputs && int64_t(outputs.size()) != *m.outputs)
        problems.push_back(fmt::format("manifest: {} has {} outputs, "
                                       "expected {}",
                                       input, outputs.size(), *m.outputs));
      for (auto& pattern : m.urls) {
        bool found = false;
        for (auto& o : outputs)
          found = found
                  || ::fnmatch(pattern.c_str(),
                               o.value("url", std::string{}).c_str(), 0)
                       == 0;
        if (!found) {
          std::vector<std::string> urls;
          for (auto& o : outputs)
            urls.push_back(o.value("url", std::string{}));
          problems.push_back(fmt::format("manifest: no url of {} matches "
                                         "'{}' (urls: {})",
                                         input, pattern,
                                         fmt::join(urls, ", ")));
        }
      }
    }
    if (!any)
      problems.push_back(fmt::format("manifest: no input matches '{}'",
                                     m.input));
  }
}

/// The config a case runs: the pipeline's, with the case's overrides, its
/// fixtures as the only inputs and every output in `scratch`. Nothing of
/// the configured source or sinks is touched, and nothing runs on nodes.
pipeline_config case_config(const test_suite& suite, const test_case& c,
                            const stage_registry& registry,
                            const std::vector<std::string>& global_sets,
                            const fs::path& scratch) {
  auto sets = global_sets;
  sets.insert(sets.end(), c.sets.begin(), c.sets.end());
  auto config = load_config(suite.pipeline, registry, sets);
  config.source.configured = true;
  config.source.kind = "list";
  config.source.files.clear();
  for (auto& input : c.inputs)
    config.source.files.push_back(fs::absolute(input).string());
  config.source.path.clear();
  config.source.on_success = "keep";
  config.source.on_failure = "keep";
  config.source.done_dir.clear();
  config.source.quarantine_dir.clear();
  config.source.state_dir = (scratch / "state").string();
  config.source.remote.clear();
  config.metrics.configured = false;
  // The run's manifest goes beside the sinks' folders; a per-input one
  // ("{stem}.json") is already below the first sink's.
  auto& manifest = config.pipeline.manifest;
  if (!manifest.empty() && manifest.find('{') == std::string::npos)
    manifest = (scratch / "manifest.json").string();
  config.nodes.clear();
  for (auto& f : config.filters)
    f.remote.clear();
  for (size_t i = 0; i < config.sinks.size(); ++i) {
    auto& sink = config.sinks[i];
    sink.options["path"] = (scratch / fmt::format("sink-{}", i + 1)).string();
    sink.remote.clear();
    for (auto& f : sink.filters)
      f.remote.clear();
  }
  return config;
}

/// Runs one case; returns its mismatches (empty: passed).
std::vector<std::string> run_case(const test_suite& suite, const test_case& c,
                                  const stage_registry& registry,
                                  const std::vector<std::string>& sets) {
  std::vector<std::string> problems;
  for (auto& input : c.inputs)
    if (!fs::is_regular_file(input))
      problems.push_back(fmt::format("fixture {} does not exist",
                                     input.string()));
  if (!problems.empty())
    return problems;

  scratch_dir scratch;
  auto config = case_config(suite, c, registry, sets, scratch.path());
  std::map<std::string, job> finished;
  run_options options;
  options.on_finished = [&](const job& j) {
    job copy;
    copy.path = j.path;
    copy.error = j.error;
    copy.failed_stage = j.failed_stage;
    copy.outputs = j.outputs;
    copy.skipped = j.skipped;
    finished[j.path] = std::move(copy);
  };
  run_pipeline(config, registry, options);
  std::vector<std::string> all_outputs;

  for (auto& input : c.inputs) {
    auto key = fs::absolute(input).string();
    auto shown = input.filename().string();
    auto it = finished.find(key);
    if (it == finished.end()) {
      problems.push_back(fmt::format("{}: never finished", shown));
      continue;
    }
    auto& j = it->second;
    if (c.expect_failure) {
      if (!j.failed()) {
        problems.push_back(fmt::format("{}: expected to fail{}, but was "
                                       "written",
                                       shown,
                                       c.fail_stage.empty()
                                         ? ""
                                         : " in " + c.fail_stage));
        continue;
      }
      if (!c.fail_stage.empty() && j.failed_stage != c.fail_stage)
        problems.push_back(fmt::format("{}: failed in {}, expected in {} "
                                       "({})",
                                       shown, j.failed_stage, c.fail_stage,
                                       j.error));
      if (!c.fail_message.empty() && !contains_folded(j.error, c.fail_message))
        problems.push_back(fmt::format("{}: failed with \"{}\", which does "
                                       "not contain \"{}\"",
                                       shown, j.error, c.fail_message));
      continue;
    }
    if (j.failed()) {
      problems.push_back(fmt::format("{}: failed in {}: {}", shown,
                                     j.failed_stage, j.error));
      continue;
    }
    if (c.outputs && int64_t(j.outputs.size()) != *c.outputs)
      problems.push_back(fmt::format("{}: {} outputs, expected {}", shown,
                                     j.outputs.size(), *c.outputs));
    std::vector<std::string> mine;
    for (auto& output : j.outputs)
      check_output(output, c, mine);
    for (auto& m : mine)
      problems.push_back(fmt::format("{} -> {}", shown, m));
    for (auto& output : j.outputs)
      all_outputs.push_back(fs::path(output).filename().string());
  }
  if (!c.expect_failure && !c.manifest.empty())
    check_manifest(config, c, problems);
  // Each check applies to some output of the case.
  if (!c.expect_failure && problems.empty())
    for (auto& check : c.checks)
      if (std::none_of(all_outputs.begin(), all_outputs.end(),
                       [&](const std::string& name) {
                         return ::fnmatch(check.file.c_str(), name.c_str(),
                                          0)
                                == 0;
                       }))
        problems.push_back(fmt::format("no output matches '{}' (outputs: "
                                       "{})",
                                       check.file,
                                       fmt::join(all_outputs, ", ")));
  return problems;
}

} // namespace

int run_test_command(const test_command_options& options) {
  std::vector<fs::path> files(options.files.begin(), options.files.end());
  if (files.empty()) {
    files = find_test_files(fs::current_path());
    if (files.empty()) {
      fmt::print(stderr, "pixline: no *_test.toml files under {} (give a "
                         "pipeline config with [[test]] cases)\n",
                 fs::current_path().string());
      return 5;
    }
  }
  if (!options.keep_log_level)
    spdlog::set_level(spdlog::level::off);
  int cases = 0, failed = 0;
  for (auto& file : files) {
    if (!fs::exists(file))
      throw config_error({file.string(), 0, 0}, "file not found");
    auto suite = suite_of(file);
    auto registry = builtin_registry();
    for (auto& p : load_plugins(registry, options.plugins, suite.pipeline))
      spdlog::debug("plugin {} ({})", p.name, p.path);
    if (suite.cases.empty()) {
      fmt::print("{}: no [[test]] cases\n", file.string());
      continue;
    }
    fmt::print("{}\n", file.string());
    for (auto& c : suite.cases) {
      ++cases;
      auto problems = run_case(suite, c, registry, options.sets);
      if (problems.empty()) {
        fmt::print("  ok    {}\n", c.name);
        continue;
      }
      ++failed;
      fmt::print("  FAIL  {} ({}:{})\n", c.name, c.where.file, c.where.line);
      for (auto& p : problems)
        fmt::print("          {}\n", p);
    }
  }
  if (cases == 0) {
    fmt::print(stderr, "pixline: no test cases found\n");
    return 5;
  }
  fmt::print("{} {}, {} failed\n", cases, cases == 1 ? "case" : "cases",
             failed);
  return failed == 0 ? 0 : 1;
}

} // namespace pixline

namespace pixline::app {

command add_test_command(CLI::App& app, const global_options& globals) {
  auto opts = std::make_shared<test_command_options>();
  command result;
  result.cli = app.add_subcommand(
    "test", "Run a pipeline's fixture cases ([[test]] in the config or in "
            "NAME_test.toml beside it) into a temporary folder");
  result.cli->add_option("files", opts->files,
                         "Pipeline configs or NAME_test.toml files (default: "
                         "every *_test.toml under the working directory)");
  result.cli->add_option("--set", opts->sets, set_option_help);
  result.run = [opts, &globals](signal_stopper*) {
    opts->plugins = globals.plugins;
    opts->keep_log_level = !globals.log_level.empty();
    return run_test_command(*opts);
  };
  return result;
}

} // namespace pixline::app
