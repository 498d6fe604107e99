#include "actors/io/fanout.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "actors/io/deadline.hpp"
#include "pipeline/naming.hpp"

namespace fs = std::filesystem;

namespace pixline {

fanout::fanout(std::vector<sink_branch> branches, std::int64_t memory_limit,
               double timeout, std::string manifest)
  : branches_(std::move(branches)),
    memory_limit_(memory_limit),
    timeout_(timeout),
    manifest_(std::move(manifest)) {
  if (branches_.empty())
    throw std::invalid_argument("a pipeline needs at least one sink");
}

vips::VImage fanout::keep(const vips::VImage& img) const {
  deadline_guard deadline{img, timeout_};
  try {
    auto bytes = std::int64_t(VIPS_IMAGE_SIZEOF_IMAGE(img.get_image()));
    if (bytes <= memory_limit_)
      return img.copy_memory();
    // "%s" is where libvips puts a unique name; the file is deleted when
    // the image is released.
    auto file = vips::VImage::new_temp_file("%s.v");
    img.write(file);
    return file;
  } catch (const vips::VError& e) {
    auto text = vips_error_text(e);
    if (deadline.expired())
      throw stage_error(fmt::format("took longer than timeout = {} s; "
                                    "stopped ({})",
                                    timeout_, text));
    throw stage_error(text);
  }
}

std::vector<bool> fanout::applicable(int width) const {
  std::map<int, int> smallest;
  for (auto& b : branches_)
    if (b.matrix > 0) {
      auto [it, added] = smallest.try_emplace(b.matrix, b.matrix_width);
      if (!added)
        it->second = std::min(it->second, b.matrix_width);
    }
  std::vector<bool> use(branches_.size(), true);
  for (size_t i = 0; i < branches_.size(); ++i) {
    auto& b = branches_[i];
    if (b.matrix > 0 && b.matrix_width > width
        && b.matrix_width != smallest[b.matrix])
      use[i] = false;
  }
  return use;
}

void fanout::defer_commits(bool on) {
  defer_ = on;
  for (auto& branch : branches_)
    branch.out->defer_commits(on);
}

void fanout::write(job& j) {
  if (!j.img)
    throw stage_error("no image to write");
  if (branches_.size() == 1 && branches_[0].filters.empty()
      && manifest_.empty()) {
    branches_[0].out->write(j);
    return;
  }
  image base = *j.img;
  auto use = applicable(base.pixels.width());
  if (keeps_image())
    base.pixels = keep(base.pixels);
  each_sink(j, use, [&](size_t i) {
    image img = base;
    for (auto& filter : branches_[i].filters)
      filter->process(img);
    return branches_[i].out->save(img, j);
  });
}

std::string fanout::sink_failure(size_t index, const std::exception& e) {
  return fmt::format("sink {}: {}", index + 1, failure_text(e));
}

std::vector<wire_output> fanout::encode(const image& img) const {
  image base = img;
  auto use = applicable(base.pixels.width());
  if (keeps_image())
    base.pixels = keep(base.pixels);
  std::vector<wire_output> result;
  for (size_t i = 0; i < branches_.size(); ++i) {
    if (!use[i]) {
      // No format and no error: this sink makes nothing of this image.
      result.emplace_back();
      continue;
    }
    try {
      image one = base;
      for (auto& filter : branches_[i].filters)
        filter->process(one);
      result.push_back(branches_[i].out->encode(one));
    } catch (const std::exception& e) {
      wire_output failed;
      failed.error = sink_failure(i, e);
      result.push_back(std::move(failed));
    }
  }
  return result;
}

void fanout::store(job& j, const std::vector<wire_output>& outputs) {
  if (outputs.size() != branches_.size())
    throw stage_error(fmt::format("a node returned {} outputs for {} sinks",
                                  outputs.size(), branches_.size()));
  std::vector<bool> use;
  for (auto& out : outputs)
    use.push_back(!out.format.empty() || !out.error.empty());
  each_sink(j, use, [&](size_t i) -> std::optional<output_record> {
    if (!outputs[i].error.empty())
      throw sink_error(outputs[i].error);
    return branches_[i].out->store(j, outputs[i]);
  });
}

void fanout::each_sink(
  job& j, const std::vector<bool>& use,
  const std::function<std::optional<output_record>(size_t)>& write) {
  // Claimed first: an input whose manifest name another input has fails
  // before any of its outputs is made.
  fs::path manifest;
  bool fresh = false;
  if (!manifest_.empty())
    manifest = manifest_name(j, &fresh);
  std::vector<std::string> errors;
  std::vector<output_record> written;
  size_t skipped = 0;
  for (size_t i = 0; i < branches_.size(); ++i) {
    if (!use[i]) {
      ++skipped;
      continue;
    }
    try {
      if (auto out = write(i))
        written.push_back(std::move(*out));
      else
        ++skipped;
    } catch (const sink_error& e) {
      errors.push_back(e.what());
    } catch (const std::exception& e) {
      errors.push_back(sink_failure(i, e));
    }
  }
  j.img.reset();
  try {
    finish(j, errors, written, skipped, manifest);
  } catch (...) {
    // No manifest was written: its name is free for the next image.
    if (fresh)
      branches_.front().out->release(manifest, j);
    throw;
  }
}

void fanout::finish(job& j, const std::vector<std::string>& errors,
                    const std::vector<output_record>& written,
                    size_t skipped, const fs::path& manifest) const {
  for (auto& out : written) {
    j.outputs.push_back(out.path);
    j.written.push_back(out);
    if (out.staged)
      j.staged.push_back(out.staged);
  }
  if (!errors.empty()) {
    auto text = fmt::format("{}", fmt::join(errors, "; "));
    // A failed job passes the commit stage by: the other sinks' outputs
    // are committed here, as they would have been written before.
    try {
      commit_outputs(j);
    } catch (const std::exception& e) {
      text += fmt::format("; {}", e.what());
    }
    throw stage_error(text);
  }
  if (skipped == branches_.size()) {
    j.skipped = true;
    return;
  }
  if (!manifest_.empty())
    write_manifest(j, written, manifest);
}

fs::path fanout::manifest_name(const job& j, bool* fresh) const {
  auto fields = input_name_fields(j);
  fields.ext = "json";
  fields.format = "json";
  fs::path rel;
  try {
    rel = render_name(manifest_, fields);
  } catch (const std::exception& e) {
    throw stage_error(fmt::format("manifest: {}", e.what()));
  }
  return branches_.front().out->claim(rel, j, fresh);
}

void fanout::write_manifest(job& j, const std::vector<output_record>& written,
                            const fs::path& rel) const {
  auto& first = *branches_.front().out;
  auto target = fs::path(first.options().path) / rel;
  auto outputs = nlohmann::json::array();
  for (auto& out : written)
    outputs.push_back({{"path", out.path},
                       {"format", out.format},
                       {"width", out.width},
                       {"height", out.height},
                       {"bytes", out.bytes}});
  auto text = nlohmann::json{{"input", j.path}, {"outputs", outputs}}.dump(2)
              + "\n";
  // Flushed when every output it lists is.
  bool durable = std::all_of(branches_.begin(), branches_.end(),
                             [](const sink_branch& b) {
                               return b.out->options().fsync;
                             });
  auto staged = stage_file(*first.root(), rel, text.data(), text.size(),
                           durable);
  if (defer_) {
    staged->mark_manifest();
    j.staged.push_back(std::move(staged));
  } else {
    staged->commit();
  }
  j.outputs.push_back(target.string());
}

} // namespace pixline
