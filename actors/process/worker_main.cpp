#include "actors/process/worker_main.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <glib.h>
#include <nlohmann/json.hpp>
#include <vips/vips8>

#include "actors/io/loader.hpp"
#include "actors/process/channel.hpp"
#include "actors/process/sandbox.hpp"
#include "actors/process/worker_process.hpp"
#include "pipeline/memory.hpp"
#include "pipeline/orc_guard.hpp"
#include "pipeline/plugin.hpp"
#include "pipeline/registry.hpp"
#include "pipeline/vips_modules.hpp"
#include "actors/net/recipes.hpp"

namespace pixline {

namespace {

using json = nlohmann::json;

std::atomic<bool> entry_installed{false};

int threads_now() {
  int n = 0;
  if (auto* dir = ::opendir("/proc/self/task")) {
    while (auto* e = ::readdir(dir))
      n += e->d_name[0] != '.';
    ::closedir(dir);
  }
  return n;
}

void reply(int socket, const json& message, const std::vector<int>& fds = {}) {
  send_message(socket, message.dump(-1, ' ', false,
                                    json::error_handler_t::replace),
               fds);
}

int serve(int socket, const std::function<void(stage_registry&)>& add_stages) {
  channel_message setup;
  if (!receive_message(socket, setup) || setup.fds.empty())
    return 1;
  auto settings = json::parse(setup.text);
  // The stage the worker is in, for pixline to read when it has to stop it.
  auto* status = static_cast<std::atomic<int>*>(
    ::mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
           MAP_SHARED, setup.fds[0].get(), 0));
  if (status == MAP_FAILED)
    return 1;
  setup.fds.clear();
  // The files the stages read, as pixline opened them for this worker.
  auto file_names = settings.value("file_names", std::vector<std::string>{});
  std::vector<unique_fd> files;
  std::vector<std::string> file_paths;
  for (size_t i = 0; i < file_names.size(); ++i) {
    channel_message file;
    if (!receive_message(socket, file) || file.fds.empty())
      return 1;
    file_paths.push_back(fmt::format("/proc/self/fd/{}", file.fds[0].get()));
    files.push_back(std::move(file.fds[0]));
  }
  std::unique_ptr<chain_worker> chain;
  node_work_fn node;
  sandbox_report report;
  try {
    vips_concurrency_set(settings.value("vips_concurrency", 1));
    if (!settings.value("vips_cache", false))
      vips_cache_set_max(0);
    auto registry = builtin_registry();
    if (add_stages)
      add_stages(registry);
    for (auto& plugin : settings.at("plugins"))
      load_plugin(plugin.get<std::string>(), registry);
    // The sandbox closes before any stage is built, while this is the only
    // thread: Landlock restricts the thread that asks and the threads it
    // starts later, not threads that exist already (libvips starts some
    // as soon as it computes anything).
    if (settings.value("sandbox", true)) {
      sandbox_settings sandbox;
      sandbox.scratch_dir = settings.value("scratch", "");
      sandbox.memory_bytes = settings.value("memory_mib", std::uint64_t(0))
                             << 20;
      int threads = threads_now();
      report = enter_sandbox(sandbox);
      if (threads > 1)
        report.warnings.push_back(fmt::format(
          "{} threads existed before the sandbox; Landlock covers only the "
          "first",
          threads));
    }
    auto recipe
      = put_back_files(settings.at("recipe").get<std::string>(), file_paths);
    if (settings.value("mode", "chain") == "node")
      node = node_worker_factory_of_paths(recipe, registry)();
    else
      chain = std::make_unique<chain_worker>(recipe, registry);
  } catch (const std::exception& e) {
    std::string error = e.what();
    for (size_t i = 0; i < file_paths.size(); ++i)
      error = replaced(error, file_paths[i], file_names[i]);
    reply(socket, {{"error", error}});
    return 1;
  }
  reply(socket, {{"ready", true},
                 {"landlock", report.landlock_abi},
                 {"seccomp", report.seccomp},
                 {"warnings", report.warnings}});

  channel_message message;
  while (receive_message(socket, message)) {
    if (message.fds.empty())
      return 1;
    if (node) {
      // A node's job: the coordinator's message in, the stage's result out.
      json result;
      unique_fd reply_fd;
      try {
        wire_job in;
        {
          mapped_file bytes(message.fds[0].get());
          deserialize(bytes.data(), bytes.size(), in);
        }
        message.fds.clear();
        auto out = node(in);
        if (says_out_of_memory(out.error))
          throw std::runtime_error(out.error);
        auto bytes = serialized(out);
        reply_fd = memfd_with("pixline-result", bytes.data(), bytes.size());
        result["error"] = "";
      } catch (const std::exception& e) {
        result["error"] = e.what();
      }
      bool exhausted = says_out_of_memory(result["error"].get<std::string>());
      result["exhausted"] = exhausted;
      reply(socket, result,
            reply_fd ? std::vector<int>{reply_fd.get()} : std::vector<int>{});
      if (exhausted)
        return 0;
      release_idle_memory();
      continue;
    }
    // A new image: its stage is the first until the chain says otherwise
    // (pixline reads it when the worker crashes or hangs under it).
    status->store(0, std::memory_order_relaxed);
    auto request = json::parse(message.text);
    auto input_name = std::string(input_marker);
    gsize relative_size = 0;
    std::unique_ptr<guchar, decltype(&g_free)> relative_bytes(
      g_base64_decode(request.at("relative").get<std::string>().c_str(),
                      &relative_size),
      &g_free);
    std::string relative(reinterpret_cast<const char*>(relative_bytes.get()),
                         relative_size);
    json result;
    // The outputs' bytes, one after the other (each output's offset and
    // size are in `result`).
    std::string bytes;
    try {
      // A private copy: nothing another process does to the file changes
      // what is decoded, and the decoders open no path of the input's
      // folder. A small file is read into memory once (every libvips open
      // of it then reads that), a larger one copied into a memfd (not in
      // any folder the sandbox lets it read).
      auto in_memory
        = read_input_bytes(message.fds[0].get(), in_memory_input_limit);
      unique_fd input;
      if (!in_memory)
        input = memfd_copy_of(message.fds[0].get(), "pixline-input");
      // pixline's file is not kept open while the stages run.
      message.fds.clear();
      // With the bytes in memory, the file has no path here: messages name
      // it by the marker pixline replaces.
      auto path = in_memory ? input_name
                            : fmt::format("/proc/self/fd/{}", input.get());
      // When each stage started, for the per-stage metrics.
      std::vector<std::chrono::steady_clock::time_point> started;
      auto outcome = chain->run(path, request.at("id").get<std::uint64_t>(),
                                relative,
                                [status, &started](int stage) {
                                  status->store(stage,
                                                std::memory_order_relaxed);
                                  started.push_back(
                                    std::chrono::steady_clock::now());
                                },
                                in_memory);
      started.push_back(std::chrono::steady_clock::now());
      std::vector<std::uint64_t> times;
      for (size_t i = 0; i + 1 < started.size(); ++i)
        times.push_back(std::uint64_t(
          std::chrono::duration_cast<std::chrono::nanoseconds>(started[i + 1]
                                                               - started[i])
            .count()));
      result["times"] = times;
      result["error"] = replaced(outcome.error, path, input_name);
      result["stage"] = outcome.stage;
      auto list = json::array();
      for (auto& out : outcome.outputs) {
        list.push_back({{"format", out.format},
                        {"width", out.width},
                        {"height", out.height},
                        {"offset", bytes.size()},
                        {"size", out.bytes.size()},
                        {"error", replaced(out.error, path, input_name)}});
        bytes.append(reinterpret_cast<const char*>(out.bytes.data()),
                     out.bytes.size());
      }
      result["outputs"] = list;
    } catch (const std::exception& e) {
      result["error"] = e.what();
      result["stage"] = status->load(std::memory_order_relaxed);
      bytes.clear();
    }
    bool exhausted = says_out_of_memory(result["error"].get<std::string>());
    result["exhausted"] = exhausted;
    auto text = result.dump(-1, ' ', false, json::error_handler_t::replace);
    // Small outputs (a thumbnail) come in the message itself, after the
    // JSON and a NUL: a memfd costs both sides more system calls than the
    // bytes take to copy. Larger ones in a memfd.
    if (!bytes.empty() && text.size() + 1 + bytes.size() <= max_message_text) {
      text.push_back('\0');
      text += bytes;
      send_message(socket, text);
    } else if (!bytes.empty()) {
      auto outputs_fd
        = memfd_with("pixline-outputs", bytes.data(), bytes.size());
      send_message(socket, text, {outputs_fd.get()});
    } else {
      send_message(socket, text);
    }
    if (exhausted)
      return 0; // a fresh worker takes the next image
    release_idle_memory();
  }
  return 0;
}

} // namespace

bool worker_entry_installed() {
  return entry_installed.load();
}

std::optional<int>
run_worker_if_asked(const std::function<void(stage_registry&)>& add_stages) {
  entry_installed = true;
  const char* socket_env = std::getenv("PIXLINE_WORKER_SOCKET");
  if (!socket_env)
    return std::nullopt;
  int socket = std::atoi(socket_env);
  // Whatever else pixline had open and did not mark close-on-exec (an
  // events file, the journal, a socket) goes first: the sandbox restricts
  // opening files, not files already open. Only stdio and the link stay.
  if (socket != 3 || ::close_range(4, ~0U, 0) != 0)
    return 1;
  // Die with pixline, even if it is killed outright.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  const char* parent = std::getenv("PIXLINE_WORKER_PARENT");
  if (!parent || ::getppid() != std::atoi(parent))
    return 1;
  ::unsetenv("PIXLINE_WORKER_SOCKET");
  ::unsetenv("PIXLINE_WORKER_PARENT");
  defer_vips_modules();
  if (VIPS_INIT("pixline-worker"))
    return 1;
  static_cast<void>(orc_guarded_calls());
  int rc;
  try {
    rc = serve(socket, add_stages);
  } catch (const std::exception& e) {
    fmt::print(stderr, "pixline worker: {}\n", e.what());
    rc = 1;
  }
  // Nothing to clean up that the kernel does not: skip libvips' shutdown.
  std::fflush(stderr);
  ::_exit(rc);
}

} // namespace pixline
