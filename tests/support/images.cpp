#include "support/images.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include <chrono>
#include <csignal>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

namespace pixline::test {

vips::VImage test_card(int width, int height) {
  auto xy = vips::VImage::xyz(width, height);
  auto x = xy[0] * (255.0 / std::max(1, width - 1));
  auto y = xy[1] * (255.0 / std::max(1, height - 1));
  auto b = vips::VImage::black(width, height) + 64;
  auto card = x.bandjoin(y).bandjoin(b).cast(VIPS_FORMAT_UCHAR);
  return card.copy(vips::VImage::option()->set(
    "interpretation", VIPS_INTERPRETATION_sRGB));
}

vips::VImage noisy_card(int width, int height) {
  auto noise = vips::VImage::gaussnoise(
    width, height, vips::VImage::option()->set("mean", 0)->set("sigma", 20));
  return (test_card(width, height) + noise)
    .cast(VIPS_FORMAT_UCHAR)
    .copy(vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

std::string libvips_jpeg(const vips::VImage& img, const jpeg_settings& settings) {
  void* buf = nullptr;
  size_t size = 0;
  img.write_to_buffer(".jpg", &buf, &size,
                      vips::VImage::option()
                        ->set("strip", true)
                        ->set("Q", settings.quality)
                        ->set("interlace", settings.progressive)
                        ->set("optimize_coding", settings.optimize)
                        ->set("subsample_mode", settings.subsample));
  std::string bytes(static_cast<const char*>(buf), size);
  g_free(buf);
  return bytes;
}

std::shared_ptr<VipsBlob> blob_of(const std::string& bytes) {
  return {vips_blob_copy(bytes.data(), bytes.size()),
          [](VipsBlob* blob) { vips_area_unref(VIPS_AREA(blob)); }};
}

std::string pixels_of(const vips::VImage& img) {
  std::size_t size = 0;
  void* data = img.write_to_memory(&size);
  std::string bytes(static_cast<const char*>(data), size);
  g_free(data);
  return bytes;
}

std::vector<cut_file> openable_cuts(
  const std::string& whole,
  const std::function<vips::VImage(const std::shared_ptr<VipsBlob>&)>& open) {
  std::vector<cut_file> cuts;
  for (std::size_t cut = 2; cut <= whole.size(); ++cut) {
    auto bytes = blob_of(whole.substr(0, cut));
    try {
      cuts.push_back({cut, bytes, open(bytes)});
    } catch (const vips::VError&) {
      vips_error_clear();
    }
  }
  return cuts;
}

vips::VImage solid(int width, int height, double r, double g, double b) {
  auto img = vips::VImage::black(width, height, vips::VImage::option()->set("bands", 3))
               .new_from_image(std::vector<double>{r, g, b})
               .cast(VIPS_FORMAT_UCHAR);
  return img.copy(vips::VImage::option()->set(
    "interpretation", VIPS_INTERPRETATION_sRGB));
}

vips::VImage step_edge(double sigma, double low, double high) {
  auto x = vips::VImage::xyz(64, 16)[0];
  auto step = (x < 32).ifthenelse(std::vector<double>{low, low, low},
                                  std::vector<double>{high, high, high});
  return step.gaussblur(sigma)
    .cast(VIPS_FORMAT_UCHAR)
    .copy(vips::VImage::option()->set("interpretation",
                                      VIPS_INTERPRETATION_sRGB));
}

double edge_contrast(const vips::VImage& img, int band) {
  double lo = 1e300;
  double hi = -1e300;
  for (int x = 24; x < 40; ++x) {
    double v = pixel(img, x, 8)[band];
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  return hi - lo;
}

image make_image(vips::VImage pixels) {
  image img;
  img.id = 1;
  img.source = "test.png";
  img.relative = "test.png";
  img.input_format = "png";
  img.pixels = std::move(pixels);
  return img;
}

std::vector<double> pixel(const vips::VImage& img, int x, int y) {
  return const_cast<vips::VImage&>(img).getpoint(x, y);
}

std::string option_error(const stage_spec& spec, option_map values) {
  auto err = check_options(spec, values);
  return err ? *err : std::string{};
}

vips::VImage apply_stage(const stage_spec& spec, const option_map& values,
                         const vips::VImage& in) {
  auto err = option_error(spec, values);
  if (!err.empty())
    throw std::invalid_argument(err);
  auto s = spec.make(values);
  auto img = make_image(in);
  s->process(img);
  return img.pixels;
}

bool near(const std::vector<double>& a, const std::vector<double>& b,
          double tolerance) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::abs(a[i] - b[i]) > tolerance)
      return false;
  return true;
}

std::vector<std::string> files_in(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec))
    return names;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec))
      names.push_back(it->path().lexically_relative(dir).generic_string());
  std::sort(names.begin(), names.end());
  return names;
}

temp_dir::temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path()
                      / "pixline-test-XXXXXX")
                       .string();
  if (!::mkdtemp(tmpl.data()))
    throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void save(const vips::VImage& img, const std::filesystem::path& file) {
  std::filesystem::create_directories(file.parent_path());
  img.write_to_file(file.c_str());
}

void write_file(const std::filesystem::path& file, const std::string& bytes) {
  std::filesystem::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary);
  out << bytes;
}

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int run_command(const std::string& command, std::string* output) {
  std::string cmd = command + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe)
    return -1;
  std::array<char, 4096> buf;
  size_t n;
  std::string out;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0)
    out.append(buf.data(), n);
  int status = ::pclose(pipe);
  if (output)
    *output = out;
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  return -1;
}

command_result run_pixline(const std::string& args) {
  command_result r;
  r.status = run_command(pixline_binary() + " " + args, &r.output);
  return r;
}

child_process::child_process(const std::vector<std::string>& args,
                             const std::filesystem::path& log) {
  pid_ = ::fork();
  if (pid_ < 0)
    throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
}

child_process::~child_process() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait();
  }
}

void child_process::signal(int sig) {
  if (pid_ > 0)
    ::kill(pid_, sig);
}

int child_process::wait() {
  if (pid_ <= 0)
    return -1;
  int status = 0;
  rusage usage{};
  ::wait4(pid_, &status, 0, &usage);
  return reaped(status, usage.ru_maxrss);
}

int child_process::reaped(int status, long max_rss_kib) {
  max_rss_kib_ = max_rss_kib;
  pid_ = -1;
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return -1;
}

std::optional<int> child_process::wait_for(double seconds) {
  if (pid_ <= 0)
    return std::nullopt;
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::milliseconds(long(seconds * 1000));
  do {
    int status = 0;
    rusage usage{};
    if (::wait4(pid_, &status, WNOHANG, &usage) == pid_)
      return reaped(status, usage.ru_maxrss);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  return std::nullopt;
}

bool wait_until(const std::function<bool()>& condition, double seconds) {
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::milliseconds(long(seconds * 1000));
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

std::string pixline_binary() {
  if (auto env = std::getenv("PIXLINE_BINARY"))
    return env;
  return PIXLINE_BINARY;
}

std::filesystem::path source_dir() {
  return PIXLINE_SOURCE_DIR;
}

port_holder::port_holder(bool listening) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0)
    throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0
      || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0
      || (listening && ::listen(fd_, 1) != 0)) {
    ::close(fd_);
    throw std::runtime_error("cannot take a loopback port");
  }
  port_ = ntohs(addr.sin_port);
}

void port_holder::release() {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
}

std::set<std::string> children_of(int pid) {
  std::set<std::string> children;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(
         fmt::format("/proc/{}/task", pid), ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::ifstream list{it->path() / "children"};
    for (std::string child; list >> child;)
      children.insert(child);
  }
  return children;
}

} // namespace pixline::test
