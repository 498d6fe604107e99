#include "support/lossy_link.hpp"

#include <csignal>
#include <regex>
#include <sstream>

#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace pixline::test {

namespace {

namespace fs = std::filesystem;

std::string forwarder_binary() {
  return PIXLINE_TUN_FORWARDER;
}

/// Runs `command` (a shell command) and REQUIREs that it succeeds.
void must(const std::string& command) {
  std::string out;
  int rc = run_command(command, &out);
  INFO(command << "\n" << out);
  REQUIRE(rc == 0);
}

/// Waits until `log` contains `text`, REQUIREs it within 10 s (the log
/// goes with the failure).
void wait_for(const fs::path& log, const std::string& text) {
  bool seen = wait_until(
    [&] { return read_file(log).find(text) != std::string::npos; }, 10);
  INFO(log.string() << ":\n" << read_file(log));
  REQUIRE(seen);
}

} // namespace

lossy_link::lossy_link(const fs::path& dir, double delay_ms, double loss,
                       const std::string& congestion, std::uint64_t seed)
  : dir_(dir) {
  auto pid = ::getpid();
  ns_a_ = fmt::format("pxl-a-{}", pid);
  ns_b_ = fmt::format("pxl-b-{}", pid);
  tun_a_ = fmt::format("pxla{}", pid % 1000000);
  tun_b_ = fmt::format("pxlb{}", pid % 1000000);
  a_ = "10.231.0.1";
  b_ = "10.231.0.2";
  REQUIRE(run_command("command -v ip", &ip_) == 0); // iproute2 (install-deps)
  ip_.erase(ip_.find_last_not_of(" \n") + 1);
  // A container may come without the device node; root can make it.
  if (!fs::exists("/dev/net/tun"))
    must("mkdir -p /dev/net && mknod /dev/net/tun c 10 200 && chmod 0666 "
         "/dev/net/tun");
  for (auto& ns : {ns_a_, ns_b_}) {
    must(fmt::format("ip netns add {}", ns));
    made_.names.push_back(ns);
    must(fmt::format("ip -n {} link set lo up", ns));
  }
  auto log = dir_ / "forwarder.log";
  forwarder_ = std::make_unique<child_process>(
    std::vector<std::string>{forwarder_binary(), "forward", tun_a_, tun_b_,
                             fmt::format("{}", delay_ms),
                             fmt::format("{}", loss), std::to_string(seed)},
    log);
  wait_for(log, "ready");
  // A point-to-point address each side, a queue long enough that the
  // devices themselves drop nothing, and the congestion control on the
  // route to the other side.
  for (auto& [ns, tun, here, there] :
       {std::tuple{ns_a_, tun_a_, a_, b_}, std::tuple{ns_b_, tun_b_, b_, a_}})
    must(fmt::format("ip link set {1} netns {0} && ip -n {0} addr add {2} "
                     "peer {3} dev {1} && ip -n {0} link set {1} up "
                     "txqueuelen 10000 && ip -n {0} route change {3} dev {1} "
                     "congctl {4}",
                     ns, tun, here, there, congestion));
}

lossy_link::namespaces::~namespaces() {
  for (auto& ns : names)
    run_command(fmt::format("ip netns del {}", ns));
}

std::vector<std::string> lossy_link::in(const std::string& ns,
                                        std::vector<std::string> args) const {
  args.insert(args.begin(), {ip_, "netns", "exec", ns});
  return args;
}

std::vector<std::string> lossy_link::in_a(std::vector<std::string> args) const {
  return in(ns_a_, std::move(args));
}

std::vector<std::string> lossy_link::in_b(std::vector<std::string> args) const {
  return in(ns_b_, std::move(args));
}

lossy_link::counters lossy_link::bytes() const {
  auto tx = [&](const std::string& ns, const std::string& tun) {
    std::string out;
    REQUIRE(run_command(fmt::format("ip -n {} -s -j link show dev {}", ns,
                                    tun),
                        &out)
            == 0);
    INFO(out);
    auto j = nlohmann::json::parse(out);
    return j.at(0).at("stats64").at("tx").at("bytes").get<std::uint64_t>();
  };
  return {tx(ns_a_, tun_a_), tx(ns_b_, tun_b_)};
}

std::string lossy_link::ping() const {
  auto log = dir_ / "echo.log";
  child_process echo{in_b({forwarder_binary(), "echo", b_, "5002"}), log};
  wait_for(log, "listening");
  auto out = dir_ / "ping.log";
  child_process ping{in_a({forwarder_binary(), "ping", b_, "5002", "500",
                           "2"}),
                     out};
  REQUIRE(ping.wait_for(30) == std::optional<int>(0));
  auto text = read_file(out);
  return text.substr(0, text.find('\n'));
}

lossy_link::transfer lossy_link::send(std::uint64_t bytes) const {
  auto log = dir_ / "sink.log";
  fs::remove(log);
  child_process sink{in_b({forwarder_binary(), "sink", b_, "5001"}), log};
  wait_for(log, "listening");
  auto out = dir_ / "send.log";
  fs::remove(out);
  child_process sender{in_a({forwarder_binary(), "send", b_, "5001",
                             std::to_string(bytes)}),
                       out};
  auto status = sender.wait_for(110);
  auto text = read_file(out);
  INFO(text);
  REQUIRE(status == std::optional<int>(0));
  REQUIRE(sink.wait_for(5) == std::optional<int>(0));
  std::smatch m;
  REQUIRE(std::regex_search(text, m, std::regex{"sent [0-9]+ bytes in ([0-9.]+) s"}));
  return {std::stod(m[1].str()), text.substr(0, text.find('\n'))};
}

std::vector<lossy_link::direction> lossy_link::stop() {
  forwarder_->signal(SIGTERM);
  REQUIRE(forwarder_->wait_for(5) == std::optional<int>(0));
  auto text = read_file(dir_ / "forwarder.log");
  INFO(text);
  std::vector<direction> result;
  std::regex line{"([0-9]+) packets, ([0-9]+) bytes, ([0-9]+) dropped, "
                  "([0-9]+) delivered"};
  for (std::sregex_iterator it(text.begin(), text.end(), line), end; it != end;
       ++it)
    result.push_back({std::stoull((*it)[1].str()), std::stoull((*it)[2].str()),
                      std::stoull((*it)[3].str()),
                      std::stoull((*it)[4].str())});
  REQUIRE(result.size() == 2);
  return result;
}

} // namespace pixline::test
