#include "actors/io/manifest.hpp"

#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include <sys/stat.h>

#include <fmt/format.h>
#include <glib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/io/writer.hpp"

namespace fs = std::filesystem;

namespace pixline {

namespace {

fs::path absolute_of(const fs::path& p) {
  std::error_code ec;
  auto a = fs::absolute(p, ec);
  return (ec ? p : a).lexically_normal();
}

} // namespace

run_manifest::run_manifest(fs::path file, std::string base_url)
  : file_(std::move(file)),
    folder_(absolute_of(file_).parent_path()),
    base_url_(std::move(base_url)) {
  if (!base_url_.empty() && base_url_.back() != '/')
    base_url_ += '/';
  std::ifstream in(file_, std::ios::binary);
  if (!in)
    return;
  std::ostringstream text;
  text << in.rdbuf();
  try {
    auto doc = nlohmann::json::parse(text.str());
    for (auto& [input, outputs] : doc.at("images").items()) {
      std::vector<entry> list;
      bool whole = true;
      for (auto& o : outputs) {
        entry e{o.at("path").get<std::string>(),
                o.at("format").get<std::string>(), o.at("width").get<int>(),
                o.at("height").get<int>(),
                o.at("bytes").get<std::uintmax_t>()};
        // Kept only while every output it lists is there.
        struct stat st;
        whole = whole && ::lstat((folder_ / e.path).c_str(), &st) == 0;
        list.push_back(std::move(e));
      }
      if (whole && !list.empty())
        images_[input] = std::move(list);
      else
        changed_ = true;
    }
  } catch (const std::exception& e) {
    spdlog::warn("{} is not a pixline manifest ({}); it is written anew",
                 file_.string(), e.what());
    images_.clear();
    changed_ = true;
  }
}

std::string run_manifest::url_of(const std::string& path) const {
  std::unique_ptr<char, decltype(&g_free)> escaped(
    g_uri_escape_string(path.c_str(), "/", FALSE), &g_free);
  return base_url_ + escaped.get();
}

void run_manifest::add(const job& j) {
  if (j.failed() || j.skipped || j.written.empty())
    return;
  std::vector<entry> list;
  for (auto& out : j.written)
    list.push_back({absolute_of(out.path).lexically_relative(folder_)
                      .generic_string(),
                    out.format, out.width, out.height, out.bytes});
  auto input = j.relative.empty() ? j.path : j.relative;
  std::lock_guard<std::mutex> guard{mutex_};
  images_[input] = std::move(list);
  changed_ = true;
}

void run_manifest::write() {
  std::string text;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (!changed_)
      return;
    auto images = nlohmann::json::object();
    for (auto& [input, list] : images_) {
      auto outputs = nlohmann::json::array();
      for (auto& e : list)
        outputs.push_back({{"path", e.path},
                           {"url", url_of(e.path)},
                           {"format", e.format},
                           {"width", e.width},
                           {"height", e.height},
                           {"bytes", e.bytes}});
      images[input] = std::move(outputs);
    }
    // Names that are not UTF-8 are readable with U+FFFD; each url is
    // percent-encoded from the exact bytes.
    text = nlohmann::json{{"base_url", base_url_}, {"images", images}}.dump(
             2, ' ', false, nlohmann::json::error_handler_t::replace)
           + "\n";
    changed_ = false;
  }
  try {
    auto folder = file_.parent_path().empty() ? fs::path(".")
                                              : file_.parent_path();
    auto root = safe_dir::open_root(folder, true);
    stage_file(root, file_.filename(), text.data(), text.size())->commit();
  } catch (const std::exception& e) {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      changed_ = true;
    }
    throw std::runtime_error(fmt::format("cannot write the manifest {}: {}",
                                         file_.string(), e.what()));
  }
}

std::size_t run_manifest::size() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return images_.size();
}

} // namespace pixline
