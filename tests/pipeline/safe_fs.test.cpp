#include "pipeline/safe_fs.hpp"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
namespace fs = std::filesystem;

namespace {

/// A small tmpfs mounted on `dir` while the object lives (pixline's tests
/// run as root).
class tmpfs_mount {
public:
  tmpfs_mount(const fs::path& dir, const std::string& size) : dir_(dir) {
    fs::create_directories(dir);
    auto opts = "size=" + size;
    REQUIRE(::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) == 0);
  }
  ~tmpfs_mount() {
    ::umount2(dir_.c_str(), MNT_DETACH);
  }
  tmpfs_mount(const tmpfs_mount&) = delete;
  tmpfs_mount& operator=(const tmpfs_mount&) = delete;

private:
  fs::path dir_;
};

/// The pid of a process that has exited.
pid_t dead_pid() {
  pid_t pid = ::fork();
  if (pid == 0)
    ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

bool no_sidecar(const safe_dir& d, const std::string& name) {
  return !d.has(name + ".error.txt");
}

} // namespace

TEST_CASE("safe_dir creates folders below its root and refuses symlinks",
          "[safe_fs]") {
  // With openat2, and one component at a time as without it.
  bool openat2 = GENERATE(true, false);
  CAPTURE(openat2);
  use_openat2(openat2);
  struct restore {
    ~restore() {
      use_openat2(true);
    }
  } restore_openat2;
  temp_dir dir;
  fs::create_directories(dir / "elsewhere");
  auto root = safe_dir::open_root(dir / "out", true);
  auto deep = root.open_below("a/b/c", true);
  REQUIRE(deep);
  CHECK(deep->path() == dir / "out" / "a" / "b" / "c");
  CHECK(fs::is_directory(dir / "out" / "a" / "b" / "c"));
  CHECK_FALSE(root.open_below("x/y", false));
  CHECK_FALSE(fs::exists(dir / "out" / "x"));
  CHECK(root.open_below("", false)->path() == dir / "out");

  fs::create_directory_symlink(dir / "elsewhere", dir / "out" / "a" / "link");
  for (bool create : {false, true}) {
    CHECK_THROWS_AS(root.open_below("a/link", create), unsafe_path);
    CHECK_THROWS_WITH(root.open_below("a/link/z", create),
                      "refusing to follow symlink "
                        + (dir / "out" / "a" / "link").string());
  }
  // A symlink to a file in the way is refused the same way.
  write_file(dir / "file", "x");
  fs::create_symlink(dir / "file", dir / "out" / "f");
  CHECK_THROWS_WITH(root.open_below("f/z", true),
                    Catch::Contains("refusing to follow symlink"));
  CHECK_THROWS_WITH(root.open_below("../elsewhere", true),
                    Catch::Contains("leaves its folder"));
  CHECK(files_in(dir / "elsewhere").empty());
}

TEST_CASE("safe_dir's temporary files are new, random and never followed",
          "[safe_fs]") {
  temp_dir dir;
  auto root = safe_dir::open_root(dir.path(), false);
  auto [fd1, name1] = root.create_temp();
  auto [fd2, name2] = root.create_temp();
  CHECK(name1 != name2);
  CHECK(name1.size() <= 40);
  CHECK(temporary_owner(name1) == ::getpid());
  struct stat st;
  REQUIRE(::fstat(fd1.get(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK(st.st_size == 0);
  // Only a name that is free is taken: renaming without replacing.
  write_file(dir / "taken", "old");
  CHECK(root.rename_new(name1, "taken") == EEXIST);
  CHECK(root.rename_new(name1, "free") == 0);
  CHECK(read_file(dir / "taken") == "old");
  // A rename over a symlink replaces the link, not its target.
  write_file(dir / "victim", "precious");
  fs::create_symlink(dir / "victim", dir / "link");
  CHECK(root.rename(name2, "link") == 0);
  CHECK(read_file(dir / "victim") == "precious");
  CHECK(fs::is_regular_file(fs::symlink_status(dir / "link")));
}

TEST_CASE("versioned names and pixline's temporary names", "[safe_fs]") {
  CHECK(versioned_name("photo.jpg", 0) == "photo.jpg");
  CHECK(versioned_name("photo.jpg", 1) == "photo.1.jpg");
  CHECK(versioned_name("a.tar.gz", 12) == "a.tar.12.gz");
  CHECK(versioned_name("README", 2) == "README.2");
  CHECK(versioned_name(".hidden", 1) == ".hidden.1");
  CHECK(temporary_owner(".pixline-42-0123456789abcdef.tmp") == 42);
  CHECK(temporary_owner(".photo.jpg.pixline-42-7.tmp") == 42);
  CHECK_FALSE(temporary_owner("photo.jpg"));
  CHECK_FALSE(temporary_owner(".pixline-42-xyz.tmp"));
  CHECK_FALSE(temporary_owner(".pixline-0-0123456789abcdef.tmp"));
}

TEST_CASE("move_keeping_all keeps every version", "[safe_fs]") {
  temp_dir dir;
  auto done = safe_dir::open_root(dir / "done", true);
  for (int i = 0; i < 3; ++i) {
    write_file(dir / "in" / "photo.jpg", fmt::format("version {}", i));
    CHECK(move_keeping_all(dir / "in" / "photo.jpg", done, "photo.jpg")
          == versioned_name("photo.jpg", i));
  }
  CHECK(files_in(dir / "done")
        == std::vector<std::string>{"photo.1.jpg", "photo.2.jpg",
                                    "photo.jpg"});
  CHECK(read_file(dir / "done" / "photo.jpg") == "version 0");
  CHECK(read_file(dir / "done" / "photo.2.jpg") == "version 2");
  CHECK_FALSE(fs::exists(dir / "in" / "photo.jpg"));
  // A name whose sidecar is taken is skipped too.
  write_file(dir / "done" / "x.jpg.error.txt", "stale");
  write_file(dir / "in" / "x.jpg", "bad");
  CHECK(move_keeping_all(dir / "in" / "x.jpg", done, "x.jpg", no_sidecar)
        == "x.1.jpg");
  // A symlink at the name counts as taken, and is left alone.
  write_file(dir / "victim", "precious");
  fs::create_symlink(dir / "victim", dir / "done" / "y.jpg");
  write_file(dir / "in" / "y.jpg", "new");
  CHECK(move_keeping_all(dir / "in" / "y.jpg", done, "y.jpg") == "y.1.jpg");
  CHECK(read_file(dir / "victim") == "precious");
}

TEST_CASE("move_keeping_all across file systems: a copy, or nothing when the "
          "disk is full",
          "[safe_fs]") {
  temp_dir dir;
  tmpfs_mount small{dir / "small", "64k"};
  auto done = safe_dir::open_root(dir / "small", false);
  write_file(dir / "in" / "a.jpg", std::string(10000, 'a'));
  write_file(dir / "small" / "a.jpg", "earlier");
  CHECK(move_keeping_all(dir / "in" / "a.jpg", done, "a.jpg") == "a.1.jpg");
  CHECK(read_file(dir / "small" / "a.1.jpg") == std::string(10000, 'a'));
  CHECK(read_file(dir / "small" / "a.jpg") == "earlier");
  CHECK_FALSE(fs::exists(dir / "in" / "a.jpg"));

  write_file(dir / "in" / "big.jpg", std::string(200000, 'b'));
  CHECK_THROWS_WITH(move_keeping_all(dir / "in" / "big.jpg", done, "big.jpg"),
                    Catch::Contains("big.jpg")
                      && Catch::Contains("No space left on device"));
  // No truncated copy, and the original where it was.
  CHECK(files_in(dir / "small")
        == std::vector<std::string>{"a.1.jpg", "a.jpg"});
  CHECK(read_file(dir / "in" / "big.jpg") == std::string(200000, 'b'));
}

TEST_CASE("write_new_file never replaces nor follows", "[safe_fs]") {
  temp_dir dir;
  auto root = safe_dir::open_root(dir.path(), false);
  write_new_file(root, "a.txt", "first");
  CHECK(read_file(dir / "a.txt") == "first");
  CHECK_THROWS_WITH(write_new_file(root, "a.txt", "second"),
                    Catch::Contains("a.txt"));
  CHECK(read_file(dir / "a.txt") == "first");
  write_file(dir / "victim", "precious");
  fs::create_symlink(dir / "victim", dir / "link.txt");
  CHECK_THROWS(write_new_file(root, "link.txt", "evil"));
  CHECK(read_file(dir / "victim") == "precious");
}

TEST_CASE("remove_stale_temporaries removes only dead runs' own temporaries",
          "[safe_fs]") {
  temp_dir dir;
  auto dead = dead_pid();
  auto live = ::getppid();
  auto stale = fmt::format(".pixline-{}-0123456789abcdef.tmp", dead);
  auto older = fmt::format(".photo.jpg.pixline-{}-3.tmp", dead);
  auto busy = fmt::format(".pixline-{}-0123456789abcdef.tmp", live);
  write_file(dir / "out" / stale, "x");
  write_file(dir / "out" / "sub" / older, "x");
  write_file(dir / "out" / busy, "x");
  write_file(dir / "out" / "photo.jpg", "x");
  // Not through a symlinked folder, and not a symlink with such a name.
  write_file(dir / "elsewhere" / stale, "x");
  fs::create_directory_symlink(dir / "elsewhere", dir / "out" / "link");
  fs::create_symlink(dir / "elsewhere" / stale,
                     dir / "out" / "sub"
                       / fmt::format(".pixline-{}-fedcba9876543210.tmp", dead));
  CHECK(remove_stale_temporaries(dir / "out") == 2);
  CHECK(fs::exists(dir / "out" / busy));
  CHECK(fs::exists(dir / "out" / "photo.jpg"));
  CHECK_FALSE(fs::exists(dir / "out" / stale));
  CHECK_FALSE(fs::exists(dir / "out" / "sub" / older));
  CHECK(fs::exists(dir / "elsewhere" / stale));
  CHECK(fs::is_symlink(
    dir / "out" / "sub"
    / fmt::format(".pixline-{}-fedcba9876543210.tmp", dead)));
}
