#include "actors/process/sandbox.hpp"

#include <cerrno>
#include <cstring>
#include <sched.h>

#include <fcntl.h>
#include <linux/landlock.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

namespace pixline {

namespace {

// Landlock access rights by ABI version (linux/landlock.h of newer kernels;
// Debian 12's header stops at ABI 2).
constexpr std::uint64_t fs_execute = 1ULL << 0;
constexpr std::uint64_t fs_write_file = 1ULL << 1;
constexpr std::uint64_t fs_read_file = 1ULL << 2;
constexpr std::uint64_t fs_read_dir = 1ULL << 3;
constexpr std::uint64_t fs_abi1 = (1ULL << 13) - 1; // execute .. make_sym
constexpr std::uint64_t fs_refer = 1ULL << 13;      // ABI 2
constexpr std::uint64_t fs_truncate = 1ULL << 14;   // ABI 3
constexpr std::uint64_t fs_ioctl_dev = 1ULL << 15;  // ABI 5
constexpr std::uint64_t net_bind_tcp = 1ULL << 0;   // ABI 4
constexpr std::uint64_t net_connect_tcp = 1ULL << 1;
constexpr std::uint64_t scope_abstract_unix = 1ULL << 0; // ABI 6
constexpr std::uint64_t scope_signal = 1ULL << 1;

/// struct landlock_ruleset_attr as of ABI 6.
struct ruleset_attr {
  std::uint64_t handled_access_fs = 0;
  std::uint64_t handled_access_net = 0;
  std::uint64_t scoped = 0;
};

struct path_beneath {
  std::uint64_t allowed_access;
  std::int32_t parent_fd;
} __attribute__((packed));

constexpr std::uint64_t file_rights
  = fs_execute | fs_write_file | fs_read_file | fs_truncate | fs_ioctl_dev;

/// Allows `rights` beneath `path` (only the file rights when it is a file);
/// a path that does not exist is skipped.
bool allow(int ruleset, const char* path, std::uint64_t rights,
           std::uint64_t handled) {
  int fd = ::open(path, O_PATH | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT || errno == ENOTDIR;
  struct stat st{};
  ::fstat(fd, &st);
  if (!S_ISDIR(st.st_mode))
    rights &= file_rights;
  path_beneath rule{rights & handled, fd};
  long rc = ::syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH,
                      &rule, 0);
  ::close(fd);
  return rc == 0;
}

/// Read-only system data libvips and its libraries may still open after set
/// up: shared libraries loaded late, fonts (SVG and text), ICC profiles,
/// the CPU count. Nothing under /home, /root, /tmp, /srv, /etc (but fonts
/// and the dynamic linker's cache) or /proc.
constexpr const char* system_data[] = {
  "/usr", "/lib", "/lib64", "/lib32", "/etc/fonts", "/etc/ld.so.cache",
  "/etc/localtime", "/var/cache/fontconfig", "/sys/devices/system/cpu",
  "/dev/urandom", "/dev/null", "/dev/zero"};

void apply_landlock(const sandbox_settings& settings, sandbox_report& report) {
  int abi = landlock_abi_version();
  report.landlock_abi = abi;
  if (abi <= 0) {
    report.warnings.push_back(
      "this kernel has no Landlock: the worker processes can read any file "
      "this user can");
    return;
  }
  ruleset_attr attr;
  attr.handled_access_fs = fs_abi1;
  if (abi >= 2)
    attr.handled_access_fs |= fs_refer;
  if (abi >= 3)
    attr.handled_access_fs |= fs_truncate;
  if (abi >= 5)
    attr.handled_access_fs |= fs_ioctl_dev;
  std::size_t size = sizeof(std::uint64_t);
  if (abi >= 4) {
    attr.handled_access_net = net_bind_tcp | net_connect_tcp;
    size = 2 * sizeof(std::uint64_t);
  }
  if (abi >= 6) {
    attr.scoped = scope_abstract_unix | scope_signal;
    size = sizeof(ruleset_attr);
  }
  int ruleset = int(::syscall(SYS_landlock_create_ruleset, &attr, size, 0));
  if (ruleset < 0) {
    report.warnings.push_back(
      fmt::format("Landlock refused a ruleset: {}", std::strerror(errno)));
    report.landlock_abi = 0;
    return;
  }
  auto handled = attr.handled_access_fs;
  bool ok = true;
  for (auto* path : system_data)
    ok = allow(ruleset, path, fs_read_file | fs_read_dir | fs_execute,
               handled)
         && ok;
  // /dev/null is written to by libraries that silence themselves.
  ok = allow(ruleset, "/dev/null", fs_write_file, handled) && ok;
  if (!settings.scratch_dir.empty())
    ok = allow(ruleset, settings.scratch_dir.c_str(), handled & ~fs_execute,
               handled)
         && ok;
  if (!ok)
    report.warnings.push_back(
      fmt::format("Landlock refused a rule: {}", std::strerror(errno)));
  if (::syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) {
    report.warnings.push_back(
      fmt::format("Landlock could not restrict the worker: {}",
                  std::strerror(errno)));
    report.landlock_abi = 0;
  }
  ::close(ruleset);
}

void apply_seccomp(sandbox_report& report) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) {
    report.warnings.push_back("seccomp is not available");
    return;
  }
  int rc = 0;
  auto deny = [&](int syscall, int error = EPERM) {
    if (syscall < 0)
      return; // not on this architecture
    rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(error), syscall, 0);
  };
  // No network and no other sockets (the worker's own link is open already).
  for (auto s : {SCMP_SYS(socket), SCMP_SYS(socketpair), SCMP_SYS(connect),
                 SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(accept),
                 SCMP_SYS(accept4)})
    deny(s);
  // No new programs, no new processes (threads only), no looking into or
  // signalling other processes, nothing that changes the system.
  for (auto s :
       {SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(fork), SCMP_SYS(vfork),
        SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv),
        SCMP_SYS(process_vm_writev), SCMP_SYS(mount), SCMP_SYS(umount2),
        SCMP_SYS(pivot_root), SCMP_SYS(chroot), SCMP_SYS(unshare),
        SCMP_SYS(setns), SCMP_SYS(kexec_load), SCMP_SYS(init_module),
        SCMP_SYS(finit_module), SCMP_SYS(delete_module), SCMP_SYS(bpf),
        SCMP_SYS(perf_event_open), SCMP_SYS(keyctl), SCMP_SYS(add_key),
        SCMP_SYS(request_key), SCMP_SYS(io_uring_setup),
        SCMP_SYS(userfaultfd), SCMP_SYS(tkill)})
    deny(s);
  // clone3's flags are in memory seccomp cannot read: ENOSYS makes glibc
  // fall back to clone, whose flags it can.
  deny(SCMP_SYS(clone3), ENOSYS);
  // One condition on the first argument (libseccomp's SCMP_A0 leaves a
  // field to the compiler, which clang's -Wextra refuses).
  auto deny_if_first = [&](int syscall, scmp_compare op, scmp_datum_t a,
                           scmp_datum_t b) {
    scmp_arg_cmp cmp{};
    cmp.arg = 0;
    cmp.op = op;
    cmp.datum_a = a;
    cmp.datum_b = b;
    if (!rc)
      rc = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), syscall, 1,
                                  &cmp);
  };
  deny_if_first(SCMP_SYS(clone), SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0);
  // Signals to itself only (abort() and raise() signal their own process).
  auto self = scmp_datum_t(::getpid());
  deny_if_first(SCMP_SYS(kill), SCMP_CMP_NE, self, 0);
  deny_if_first(SCMP_SYS(tgkill), SCMP_CMP_NE, self, 0);
  if (!rc)
    rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
  if (!rc)
    rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc)
    report.warnings.push_back(
      fmt::format("seccomp filter not applied: {}", std::strerror(-rc)));
  else
    report.seccomp = true;
}

} // namespace

int landlock_abi_version() {
  long v = ::syscall(SYS_landlock_create_ruleset, nullptr, 0,
                     LANDLOCK_CREATE_RULESET_VERSION);
  return v < 0 ? 0 : int(v);
}

sandbox_report enter_sandbox(const sandbox_settings& settings) {
  sandbox_report report;
  rlimit none{0, 0};
  ::setrlimit(RLIMIT_CORE, &none); // a crash leaves no core file behind
  if (settings.memory_bytes > 0) {
    rlimit as{settings.memory_bytes, settings.memory_bytes};
    if (::setrlimit(RLIMIT_AS, &as) != 0)
      report.warnings.push_back(fmt::format("cannot limit memory: {}",
                                            std::strerror(errno)));
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    report.warnings.push_back(
      fmt::format("no_new_privs refused: {}", std::strerror(errno)));
    return report;
  }
  apply_landlock(settings, report);
  apply_seccomp(report);
  return report;
}

} // namespace pixline
