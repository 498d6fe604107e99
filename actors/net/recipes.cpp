#include "actors/net/recipes.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>

#include <sys/mman.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <glib.h>
#include <nlohmann/json.hpp>

#include "actors/io/fanout.hpp"
#include "actors/io/loader.hpp"
#include "actors/io/writer.hpp"
#include "actors/process/channel.hpp"
#include "pipeline/job.hpp"
#include "pipeline/registry.hpp"
#include "pipeline/safe_fs.hpp"

namespace pixline {

namespace {

using json = nlohmann::json;

json to_json(const option_map& options) {
  auto result = json::object();
  for (auto& entry : options) {
    auto& name = entry.first;
    std::visit([&](auto& v) { result[name] = v; }, entry.second);
  }
  return result;
}

/// A list option's value as to_json wrote it: strings, integers, or
/// [name, integer] pairs (a placement's table); an empty array is an empty
/// list of strings, which a list of integers takes too (spec_builder).
std::optional<option_value> list_value(const json& value) {
  if (!value.is_array())
    return std::nullopt;
  auto all = [&](auto test) {
    return std::all_of(value.begin(), value.end(), test);
  };
  if (all([](const json& v) { return v.is_string(); }))
    return option_value{value.get<string_list>()};
  if (all([](const json& v) { return v.is_number_integer(); }))
    return option_value{value.get<integer_list>()};
  if (all([](const json& v) {
        return v.is_array() && v.size() == 2 && v[0].is_string()
               && v[1].is_number_integer();
      }))
    return option_value{value.get<integer_table>()};
  return std::nullopt;
}

option_map from_json(const json& j) {
  option_map result;
  for (auto& [name, value] : j.items()) {
    if (value.is_boolean())
      result[name] = value.get<bool>();
    else if (value.is_number_integer())
      result[name] = value.get<std::int64_t>();
    else if (value.is_number())
      result[name] = value.get<double>();
    else if (value.is_string())
      result[name] = value.get<std::string>();
    else if (auto list = list_value(value))
      result[name] = std::move(*list);
    else
      throw std::runtime_error(
        fmt::format("recipe: option '{}' has no option value", name));
  }
  return result;
}

const stage_spec& spec_of(const stage_registry& registry,
                          const std::string& type) {
  auto spec = registry.find(type);
  if (!spec || !spec->make)
    throw std::runtime_error(fmt::format(
      "this node has no stage '{}' (a plugin stage needs `pixline node "
      "--plugin` on every node)",
      type));
  return *spec;
}

/// The text of an exception, as a job's error.
/// Runs `fn` and turns any exception into the result's error.
template <class F>
wire_result guarded(F fn) {
  wire_result r;
  try {
    fn(r);
  } catch (const std::exception& e) {
    r = wire_result{};
    r.error = failure_text(e);
  } catch (...) {
    r = wire_result{};
    r.error = "unknown error";
  }
  return r;
}

/// An input file's bytes as a file only this process can see: a memfd,
/// opened by path (/proc/self/fd/N) so every loader, and a fused stage's
/// shrink-on-load, works as on the coordinator.
class memory_file {
public:
  explicit memory_file(const std::vector<std::uint8_t>& bytes) {
    fd_ = ::memfd_create("pixline-input", MFD_CLOEXEC);
    if (fd_ < 0)
      throw stage_error(
        fmt::format("memfd_create failed: {}", std::strerror(errno)));
    size_t done = 0;
    while (done < bytes.size()) {
      auto n = ::write(fd_, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        auto err = errno;
        ::close(fd_);
        throw stage_error(
          fmt::format("cannot buffer the input: {}", std::strerror(err)));
      }
      done += size_t(n);
    }
    path_ = fmt::format("/proc/self/fd/{}", fd_);
  }
  memory_file(const memory_file&) = delete;
  memory_file& operator=(const memory_file&) = delete;
  ~memory_file() {
    ::close(fd_);
  }
  const std::string& path() const {
    return path_;
  }

private:
  int fd_ = -1;
  std::string path_;
};

std::shared_ptr<loader> loader_of_recipe(const json& recipe,
                                         const stage_registry& registry) {
  auto opts = loader_spec().decode(from_json(recipe.at("options")));
  load_params params;
  params.sequential = recipe.at("sequential").get<bool>();
  params.fail_on = recipe.at("fail_on").get<std::string>();
  std::unique_ptr<stage> fused;
  if (recipe.contains("fused"))
    fused = spec_of(registry, recipe["fused"].at("type").get<std::string>())
              .make(from_json(recipe["fused"].at("options")));
  return std::make_shared<loader>(opts, params, std::move(fused));
}

std::shared_ptr<stage> filter_of_recipe(const json& recipe,
                                        const stage_registry& registry) {
  return spec_of(registry, recipe.at("type").get<std::string>())
    .make(from_json(recipe.at("options")));
}

std::shared_ptr<fanout> fanout_of_recipe(const json& recipe,
                                         const stage_registry& registry) {
  std::vector<sink_branch> branches;
  for (auto& sink : recipe.at("sinks")) {
    sink_branch branch;
    for (auto& f : sink.at("filters"))
      branch.filters.push_back(filter_of_recipe(f, registry));
    auto opts = writer_spec().decode(from_json(sink.at("options")));
    branch.out = std::make_shared<writer>(opts);
    branch.matrix = sink.value("matrix", 0);
    branch.matrix_width = sink.value("matrix_width", 0);
    branches.push_back(std::move(branch));
  }
  return std::make_shared<fanout>(std::move(branches),
                                  recipe.at("memory_limit").get<std::int64_t>(),
                                  recipe.value("timeout", 0.0));
}

node_work_fn load_worker(const json& recipe, const stage_registry& registry) {
  auto l = loader_of_recipe(recipe, registry);
  return [l](wire_job& in) {
    memory_file file{in.file};
    auto r = guarded([&](wire_result& r) {
      job j;
      j.id = in.id;
      j.path = file.path();
      j.relative = in.name;
      l->load(j);
      r.image = to_wire(j.img->pixels, j.img->input_format, in.encoding);
    });
    r.error = replaced(std::move(r.error), file.path(), in.name);
    return r;
  };
}

/// The image a job message carries, for a stage on this node.
image received_image(const wire_job& in) {
  image img;
  img.id = in.id;
  img.relative = in.name;
  img.input_format = in.image.input_format;
  img.pixels = from_wire(in.image);
  return img;
}

node_work_fn filter_worker(const json& recipe,
                           const stage_registry& registry) {
  auto s = filter_of_recipe(recipe, registry);
  return [s](wire_job& in) {
    return guarded([&](wire_result& r) {
      auto img = received_image(in);
      s->process(img);
      r.image = to_wire(img.pixels, img.input_format, in.encoding);
    });
  };
}

node_work_fn save_worker(const json& recipe, const stage_registry& registry) {
  auto f = fanout_of_recipe(recipe, registry);
  return [f](wire_job& in) {
    return guarded([&](wire_result& r) {
      r.outputs = f->encode(received_image(in));
    });
  };
}

/// Consecutive stages as one job (segment_recipe): the image stays here
/// from the first to the last.
node_work_fn segment_worker(const json& recipe,
                            const stage_registry& registry) {
  auto& parts = recipe.at("stages");
  if (parts.size() < 2)
    throw std::runtime_error("a segment of fewer than two stages");
  std::shared_ptr<loader> load;
  std::vector<std::shared_ptr<stage>> filters;
  std::shared_ptr<fanout> save;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    auto& part = parts[i];
    auto kind = part.value("kind", "");
    if (kind == "load" && i == 0)
      load = loader_of_recipe(part, registry);
    else if (kind == "filter")
      filters.push_back(filter_of_recipe(part, registry));
    else if (kind == "save" && i + 1 == parts.size())
      save = fanout_of_recipe(part, registry);
    else
      throw std::runtime_error(fmt::format(
        "a segment's stage {} is of kind '{}' (a load comes first, a save "
        "last, filters anywhere)",
        i, kind));
  }
  auto last = std::int32_t(parts.size()) - 1;
  return [load, filters, save, last](wire_job& in) {
    std::optional<memory_file> file;
    std::int32_t at = 0;
    auto r = guarded([&](wire_result& r) {
      job j;
      if (load) {
        file.emplace(in.file);
        j.id = in.id;
        j.path = file->path();
        j.relative = in.name;
        load->load(j);
        ++at;
      } else {
        auto img = std::make_shared<tracked_image>();
        static_cast<image&>(*img) = received_image(in);
        j.img = std::move(img);
      }
      for (auto& f : filters) {
        f->process(*j.img);
        ++at;
      }
      if (save)
        r.outputs = save->encode(*j.img);
      else
        r.image = to_wire(j.img->pixels, j.img->input_format, in.encoding);
    });
    if (!r.error.empty()) {
      // A damaged file read in full only by a later stage is still the
      // decode's failure.
      bool decode = take_decode_failure(r.error);
      r.stage = load && decode ? 0 : std::min(at, last);
      if (file)
        r.error = replaced(std::move(r.error), file->path(), in.name);
    }
    return r;
  };
}

/// A job's image as a message (computing it here).
wire_image image_of(job& j, const std::string& encoding) {
  if (!j.img)
    throw stage_error("no image to send");
  try {
    return to_wire(j.img->pixels, j.img->input_format, encoding);
  } catch (const vips::VError& e) {
    throw stage_error(vips_error_text(e));
  }
}

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw stage_error(fmt::format("cannot open: {}", std::strerror(errno)));
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  if (in.bad())
    throw stage_error("cannot read the file");
  return bytes;
}

wire_job header_of(const job& j, const std::string& encoding) {
  wire_job w;
  w.encoding = encoding;
  w.id = j.id;
  w.name = j.relative.empty() ? j.path : j.relative;
  return w;
}

/// A job with its image, for a filter or save stage on a node.
wire_job send_image(job& j, const std::string& encoding) {
  auto w = header_of(j, encoding);
  w.image = image_of(j, encoding);
  return w;
}

} // namespace

std::function<node_work_fn()> node_worker_factory_of_paths(
  const std::string& recipe, const stage_registry& registry) {
  json r;
  try {
    r = json::parse(recipe);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("malformed recipe: {}", e.what()));
  }
  auto kind = r.value("kind", "");
  // Build one worker now, so a recipe naming an unknown stage or bad
  // options fails at setup, not on the first image.
  auto make = [r, kind, &registry]() -> node_work_fn {
    if (kind == "load")
      return load_worker(r, registry);
    if (kind == "filter")
      return filter_worker(r, registry);
    if (kind == "save")
      return save_worker(r, registry);
    if (kind == "segment")
      return segment_worker(r, registry);
    throw std::runtime_error(fmt::format("recipe of unknown kind '{}'", kind));
  };
  try {
    make();
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("malformed recipe: {}", e.what()));
  }
  return make;
}

std::function<node_work_fn()> node_worker_factory(
  const std::string& recipe, const stage_registry& registry) {
  auto carried = std::make_shared<carried_files>(unpack_files(recipe, registry));
  auto paths = carried->paths();
  std::function<node_work_fn()> make;
  try {
    make = node_worker_factory_of_paths(put_back_files(carried->recipe, paths),
                                        registry);
  } catch (const std::exception& e) {
    // "cannot read the overlay image /proc/self/fd/9" names the file.
    std::string why = e.what();
    for (size_t i = 0; i < paths.size(); ++i)
      why = replaced(why, paths[i], carried->names[i]);
    throw std::runtime_error(why);
  }
  // The workers' stages read the files whenever they like: they stay open
  // as long as a worker can be made.
  return [make, carried] { return make(); };
}

std::string load_recipe(const option_map& load_options,
                        const load_params& params,
                        const std::string& fused_type,
                        const option_map& fused_options) {
  json r{{"kind", "load"},
         {"options", to_json(load_options)},
         {"sequential", params.sequential},
         {"fail_on", params.fail_on}};
  if (!fused_type.empty())
    r["fused"] = {{"type", fused_type}, {"options", to_json(fused_options)}};
  return r.dump();
}

std::string filter_recipe(const std::string& type, const option_map& options) {
  return json{{"kind", "filter"}, {"type", type}, {"options", to_json(options)}}
    .dump();
}

std::string save_recipe(const std::vector<sink_recipe>& sinks,
                        std::int64_t memory_limit, double timeout) {
  auto list = json::array();
  for (auto& sink : sinks) {
    auto filters = json::array();
    for (auto& [type, opts] : sink.filters)
      filters.push_back({{"type", type}, {"options", to_json(opts)}});
    list.push_back({{"options", to_json(sink.options)},
                    {"filters", filters},
                    {"matrix", sink.matrix},
                    {"matrix_width", sink.matrix_width}});
  }
  return json{{"kind", "save"},
              {"sinks", list},
              {"memory_limit", memory_limit},
              {"timeout", timeout}}
    .dump();
}

remote_half load_half(int max_file_mib) {
  return {
    [max_file_mib](job& j, const std::string& encoding) {
      int input_fd = j.input_file ? j.input_file->get() : -1;
      check_input_file(j.path, max_file_mib, input_fd);
      auto w = header_of(j, encoding);
      // The checked file itself when the source opened it (a new open of
      // it, as reopen_read), not the path.
      w.file = read_file(input_fd >= 0
                           ? fmt::format("/proc/self/fd/{}", input_fd)
                           : j.path);
      return w;
    },
    [](job& j, wire_result& r) {
      auto img = std::make_shared<tracked_image>();
      img->id = j.id;
      img->source = j.path;
      img->relative = j.relative;
      img->input_format = r.image.input_format;
      img->pixels = from_wire(r.image);
      j.img = std::move(img);
    },
    {}};
}

remote_half filter_half() {
  return {send_image,
          [](job& j, wire_result& r) {
            j.img->pixels = from_wire(r.image);
            j.img->input_format = r.image.input_format;
          },
          {}};
}

remote_half save_half(
  std::function<void(job&, const std::vector<wire_output>&)> store) {
  return {send_image,
          [store](job& j, wire_result& r) { store(j, r.outputs); },
          {}};
}

std::string segment_recipe(const std::vector<std::string>& stages) {
  auto list = json::array();
  for (auto& s : stages)
    list.push_back(json::parse(s));
  return json{{"kind", "segment"}, {"stages", list}}.dump();
}

std::string chain_recipe(const std::string& load,
                         const std::vector<std::string>& filters,
                         const std::string& save) {
  auto list = json::array();
  for (auto& f : filters)
    list.push_back(json::parse(f));
  return json{{"kind", "chain"},
              {"load", json::parse(load)},
              {"filters", list},
              {"save", json::parse(save)}}
    .dump();
}

namespace {

/// Calls `fn` on every stage table (type and options) of a recipe: a
/// chain's, or a node's (load, filter or save).
template <class F>
void each_stage(json& recipe, F fn) {
  auto kind = recipe.value("kind", "");
  auto load = [&](json& l) {
    if (l.contains("fused"))
      fn(l["fused"]);
  };
  auto save = [&](json& s) {
    for (auto& sink : s.at("sinks"))
      for (auto& f : sink.at("filters"))
        fn(f);
  };
  if (kind == "chain") {
    load(recipe.at("load"));
    for (auto& f : recipe.at("filters"))
      fn(f);
    save(recipe.at("save"));
  } else if (kind == "load") {
    load(recipe);
  } else if (kind == "filter") {
    fn(recipe);
  } else if (kind == "save") {
    save(recipe);
  } else if (kind == "segment") {
    for (auto& part : recipe.at("stages"))
      each_stage(part, fn);
  }
}

/// Calls `fn(type, option, value)` on every option of a recipe's stages
/// that names a file (option_spec::names_file) with a value that is not
/// empty nor a built-in name.
template <class F>
void each_file_option(json& recipe, const stage_registry& registry, F fn) {
  each_stage(recipe, [&](json& stage) {
    auto type = stage.at("type").get<std::string>();
    auto* spec = registry.find(type);
    if (!spec)
      return; // refused when the stage is built
    for (auto& [name, value] : stage.at("options").items()) {
      auto* option = spec->find(name);
      if (!option || !option->names_file || !value.is_string())
        continue;
      auto& text = value.template get_ref<const std::string&>();
      if (!text.empty() && !option->is_builtin_name(text))
        fn(type, *option, value);
    }
  });
}

constexpr std::string_view file_placeholder = "pixline-file:";

/// The K of a "pixline-file:K" value, or nothing.
std::optional<std::size_t> placeholder_index(std::string_view text) {
  if (!text.starts_with(file_placeholder))
    return std::nullopt;
  auto digits = text.substr(file_placeholder.size());
  if (digits.empty() || digits.size() > 9
      || digits.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  return std::stoul(std::string(digits));
}

/// Files carried in a node recipe larger than this are refused (a logo or
/// a profile is kilobytes to a few megabytes).
constexpr std::size_t max_carried_file = std::size_t(64) << 20;

} // namespace

std::string replaced(std::string text, const std::string& from,
                     const std::string& to) {
  for (size_t at = 0; (at = text.find(from, at)) != std::string::npos;
       at += to.size())
    text.replace(at, from.size(), to);
  return text;
}

std::vector<std::string> take_out_files(std::string& recipe,
                                        const stage_registry& registry,
                                        bool strict) {
  auto r = json::parse(recipe);
  std::vector<std::string> paths;
  each_file_option(r, registry, [&](const std::string& type,
                                    const option_spec& option, json& value) {
    auto path = value.get<std::string>();
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      if (strict)
        throw std::runtime_error(fmt::format(
          "{}: option '{}': \"{}\" is not a file{}", type, option.name, path,
          option.builtin_names.empty()
            ? std::string{}
            : fmt::format(" nor one of {}",
                          fmt::join(option.builtin_names, ", "))));
      return; // the stage says what is wrong with it
    }
    paths.push_back(path);
    value = fmt::format("{}{}", file_placeholder, paths.size() - 1);
  });
  recipe = r.dump();
  return paths;
}

std::string put_back_files(const std::string& recipe,
                           const std::vector<std::string>& paths) {
  auto r = json::parse(recipe);
  each_stage(r, [&](json& stage) {
    for (auto& [name, value] : stage.at("options").items()) {
      if (!value.is_string())
        continue;
      std::string_view text = value.get_ref<const std::string&>();
      if (!text.starts_with(file_placeholder))
        continue;
      auto k = placeholder_index(text);
      if (!k || *k >= paths.size())
        throw std::runtime_error("recipe names a file it was not given");
      value = paths[*k];
    }
  });
  return r.dump();
}

std::vector<std::string> carried_files::paths() const {
  std::vector<std::string> result;
  if (files)
    for (auto& fd : *files)
      result.push_back(fmt::format("/proc/self/fd/{}", fd.get()));
  return result;
}

std::string with_files(const std::string& recipe,
                       const stage_registry& registry) {
  auto text = recipe;
  auto paths = take_out_files(text, registry, true);
  if (paths.empty())
    return recipe;
  auto r = json::parse(text);
  auto files = json::array();
  for (auto& path : paths) {
    std::error_code ec;
    auto size = std::filesystem::file_size(path, ec);
    if (!ec && size > max_carried_file)
      throw std::runtime_error(fmt::format(
        "{}: {} MiB, more than the {} MiB a file named by a stage on a node "
        "may have",
        path, size >> 20, max_carried_file >> 20));
    std::ifstream in(path, std::ios::binary);
    if (!in)
      throw std::runtime_error(
        fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
    std::string bytes((std::istreambuf_iterator<char>(in)),
                      std::istreambuf_iterator<char>());
    if (in.bad())
      throw std::runtime_error(fmt::format("{}: cannot read it", path));
    std::unique_ptr<gchar, decltype(&g_free)> encoded(
      g_base64_encode(reinterpret_cast<const guchar*>(bytes.data()),
                      bytes.size()),
      &g_free);
    files.push_back({{"name", path}, {"base64", encoded.get()}});
  }
  r["files"] = std::move(files);
  return r.dump();
}

carried_files unpack_files(const std::string& recipe,
                           const stage_registry& registry) {
  json r;
  try {
    r = json::parse(recipe);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("malformed recipe: {}", e.what()));
  }
  carried_files result;
  result.files = std::make_shared<std::vector<unique_fd>>();
  try {
    auto files = r.contains("files") ? r.at("files") : json::array();
    r.erase("files");
    each_file_option(r, registry, [&](const std::string& type,
                                      const option_spec& option,
                                      json& value) {
      auto k = placeholder_index(value.get_ref<const std::string&>());
      if (k && *k < files.size())
        return;
      // Never looked up here: the answer must not tell whether the node
      // has such a file.
      throw std::runtime_error(fmt::format(
        "{}: option '{}' names a file the coordinator did not send (a node "
        "never opens a file a coordinator names; a coordinator sends the "
        "files' bytes)",
        type, option.name));
    });
    for (auto& file : files) {
      auto name = file.at("name").get<std::string>();
      auto& encoded = file.at("base64").get_ref<const std::string&>();
      if (encoded.size() / 4 * 3 > max_carried_file)
        throw std::runtime_error(
          fmt::format("the file {} is larger than {} MiB", name,
                      max_carried_file >> 20));
      gsize size = 0;
      std::unique_ptr<guchar, decltype(&g_free)> bytes(
        g_base64_decode(encoded.c_str(), &size), &g_free);
      result.files->push_back(
        memfd_with("pixline-resource", bytes.get(), size, true));
      result.names.push_back(std::move(name));
    }
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("malformed recipe: {}", e.what()));
  }
  result.recipe = r.dump();
  return result;
}

struct chain_worker::parts {
  std::shared_ptr<loader> load;
  std::vector<std::shared_ptr<stage>> filters;
  std::shared_ptr<fanout> save;
};

chain_worker::chain_worker(const std::string& recipe,
                           const stage_registry& registry)
    : parts_(std::make_shared<parts>()) {
  try {
    auto r = json::parse(recipe);
    if (r.value("kind", "") != "chain")
      throw std::runtime_error("not a chain recipe");
    parts_->load = loader_of_recipe(r.at("load"), registry);
    stages_.push_back("load");
    for (auto& f : r.at("filters")) {
      parts_->filters.push_back(filter_of_recipe(f, registry));
      stages_.push_back(f.at("type").get<std::string>());
    }
    parts_->save = fanout_of_recipe(r.at("save"), registry);
    stages_.push_back("save");
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("malformed recipe: {}", e.what()));
  }
}

chain_outcome chain_worker::run(const std::string& path, std::uint64_t id,
                                const std::string& relative,
                                const std::function<void(int)>& at,
                                std::shared_ptr<VipsBlob> bytes) const {
  chain_outcome out;
  int stage_index = 0;
  try {
    at(stage_index);
    job j;
    j.id = id;
    j.path = path;
    j.relative = relative;
    j.input_bytes = std::move(bytes);
    parts_->load->load(j);
    for (auto& f : parts_->filters) {
      at(++stage_index);
      f->process(*j.img);
    }
    at(++stage_index);
    out.outputs = parts_->save->encode(*j.img);
  } catch (const std::exception& e) {
    out.error = failure_text(e);
    // A damaged file read in full only by a later stage is still the
    // decode's failure, not that stage's.
    if (take_decode_failure(out.error))
      stage_index = 0;
  } catch (...) {
    out.error = "unknown error";
  }
  out.stage = stage_index;
  return out;
}

} // namespace pixline
