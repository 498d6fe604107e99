// A stage that misbehaves on purpose, for the isolation tests
// (e2e/isolation): on an input whose name contains "poison-MODE" it aborts,
// segfaults, spins for ever, allocates without bound, fills stderr, or
// probes what the sandbox allows; every other image passes unchanged.
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <optional>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipeline/plugin.hpp"
#include "pipeline/registry.hpp"
#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace {

struct poison_options {};

std::atomic<unsigned long> spins{0};

/// "ok" or the error a system call met.
std::string outcome(int rc) {
  return rc >= 0 ? "ok" : std::strerror(errno);
}

class poison : public pixline::stage {
public:
  explicit poison(poison_options) {
  }
  void process(pixline::image& img) override {
    auto name = img.relative.filename().string();
    if (name.find("poison-abort") != std::string::npos)
      std::abort();
    if (name.find("poison-segv") != std::string::npos) {
      volatile int* nowhere = nullptr;
      *nowhere = 1;
    }
    if (name.find("poison-spin") != std::string::npos)
      for (;;)
        spins.fetch_add(1, std::memory_order_relaxed);
    if (name.find("poison-alloc") != std::string::npos) {
      std::vector<char*> blocks;
      for (;;) {
        auto* block = static_cast<char*>(std::malloc(64 << 20));
        if (!block)
          throw std::bad_alloc();
        std::memset(block, 1, 64 << 20);
        blocks.push_back(block);
      }
    }
    if (name.find("poison-quiet") != std::string::npos) {
      // Closes its stderr, then takes a while: pixline must wait without
      // spinning on the closed pipe.
      ::close(1);
      ::close(2);
      ::usleep(1500 * 1000);
      return;
    }
    if (name.find("poison-spew") != std::string::npos) {
      std::string line(200, 'w');
      for (int i = 0; i < 5000; ++i)
        std::fprintf(stderr, "warning %d: %s\n", i, line.c_str());
      throw pixline::stage_error(std::string(20000, 'x'));
    }
    if (name.find("poison-probe") != std::string::npos) {
      int fd = ::open("/etc/passwd", O_RDONLY | O_CLOEXEC);
      auto open_result = outcome(fd);
      if (fd >= 0)
        ::close(fd);
      int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      auto socket_result = outcome(s);
      if (s >= 0)
        ::close(s);
      pid_t pid = ::fork();
      if (pid == 0)
        ::_exit(0);
      if (pid > 0)
        ::waitpid(pid, nullptr, 0);
      auto fork_result = outcome(pid);
      // Files and sockets open beyond stdio and the worker's link (3): its
      // own memfds have no name in any folder (no links).
      int inherited = 0;
      for (int fd = 4; fd < 1024; ++fd) {
        struct stat st{};
        if (::fstat(fd, &st) == 0
            && (S_ISSOCK(st.st_mode) || (S_ISREG(st.st_mode) && st.st_nlink > 0)))
          ++inherited;
      }
      throw pixline::stage_error("probe: open /etc/passwd: " + open_result
                                 + "; socket: " + socket_result
                                 + "; fork: " + fork_result + "; inherited: "
                                 + std::to_string(inherited));
    }
  }
};

/// Opens files itself, as thumbnail's shrink-on-load does, and never
/// finishes opening a 13x7 image: a hang before any pixel is decoded.
class poison_open : public pixline::stage {
public:
  explicit poison_open(poison_options) {
  }
  bool fuses_load() const override {
    return true;
  }
  std::optional<vips::VImage> load_fused(const std::string&,
                                         const vips::VImage& header,
                                         const pixline::load_params&) override {
    if (header.width() == 13 && header.height() == 7)
      for (;;)
        spins.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  void process(pixline::image&) override {
  }
};

void register_poison(pixline::stage_registry& registry) {
  static const auto spec = pixline::spec_builder<poison_options>(
    "poison", "Misbehaves on inputs named poison-MODE (tests only)");
  registry.add(spec.filter<poison>());
  static const auto open_spec = pixline::spec_builder<poison_options>(
    "poison_open", "Never finishes opening a 13x7 image (tests only)")
    .fuses_load();
  registry.add(open_spec.filter<poison_open>());
}

} // namespace

PIXLINE_PLUGIN("poison", register_poison)
