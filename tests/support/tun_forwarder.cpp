// A link with a fixed delay and random loss, for tests in network
// namespaces (this kernel has no netem), and a plain TCP transfer to
// measure what such a link carries. Three commands:
//
//   tun_forwarder forward TUN_A TUN_B DELAY_MS LOSS SEED
//     Creates the tun devices TUN_A and TUN_B, prints "ready" and copies
//     every IP packet read from one to the other DELAY_MS later, dropping
//     each with probability LOSS (a seeded generator per direction), until
//     SIGTERM or SIGINT; then prints the counters of each direction. The
//     caller moves each device into its namespace and gives it addresses.
//   tun_forwarder sink ADDRESS PORT
//     Prints "listening", accepts one connection, reads it to its end and
//     answers with one byte.
//   tun_forwarder send ADDRESS PORT BYTES
//     Connects, sends BYTES bytes, closes its side and waits for the
//     sink's byte; prints "sent N bytes in S s" (from before the connect
//     to the answer: what a transfer of N bytes costs, its start
//     included), the congestion control, smoothed RTT and retransmissions.
//   tun_forwarder echo ADDRESS PORT
//     Answers UDP datagrams with themselves (prints "listening").
//   tun_forwarder ping ADDRESS PORT COUNT INTERVAL_MS
//     Sends COUNT datagrams to an echo and prints how many came back and
//     the round-trip times (there is no ping in the test image).

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

using clock_type = std::chrono::steady_clock;

volatile std::sig_atomic_t stop_requested = 0;

void on_stop(int) {
  stop_requested = 1;
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "tun_forwarder: %s: %s\n", what.c_str(),
               std::strerror(errno));
  std::exit(1);
}

/// Opens a new tun device named `name` (IP packets, no extra header),
/// non-blocking.
int open_tun(const std::string& name) {
  int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    fail("open /dev/net/tun");
  ifreq req{};
  req.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::snprintf(req.ifr_name, IFNAMSIZ, "%s", name.c_str());
  if (::ioctl(fd, TUNSETIFF, &req) < 0)
    fail("TUNSETIFF " + name);
  return fd;
}

struct packet {
  clock_type::time_point due;
  std::string bytes;
};

/// One direction of the link: packets read from `from` wait in `line`
/// until due, then go to `to`.
struct direction {
  int from = -1;
  int to = -1;
  std::mt19937_64 random;
  std::deque<packet> line;
  std::uint64_t packets = 0, bytes = 0, dropped = 0, delivered = 0;
};

void forward(const std::string& tun_a, const std::string& tun_b,
             double delay_ms, double loss, std::uint64_t seed) {
  int a = open_tun(tun_a);
  int b = open_tun(tun_b);
  direction dirs[2];
  dirs[0].from = a;
  dirs[0].to = b;
  dirs[0].random.seed(seed);
  dirs[1].from = b;
  dirs[1].to = a;
  dirs[1].random.seed(seed + 1);
  auto delay = std::chrono::duration_cast<clock_type::duration>(
    std::chrono::duration<double, std::milli>(delay_ms));
  std::bernoulli_distribution drop(loss);
  std::printf("ready\n");
  std::fflush(stdout);
  std::vector<char> buffer(65536);
  while (!stop_requested) {
    auto now = clock_type::now();
    for (auto& d : dirs)
      while (!d.line.empty() && d.line.front().due <= now) {
        auto& p = d.line.front().bytes;
        // A device that is down or full refuses the packet: the link
        // lost it, as a real one would.
        if (::write(d.to, p.data(), p.size()) == ssize_t(p.size()))
          ++d.delivered;
        d.line.pop_front();
      }
    // Sleep until a packet arrives or the next one is due.
    auto wait = std::chrono::nanoseconds(std::chrono::milliseconds(100));
    for (auto& d : dirs)
      if (!d.line.empty())
        wait = std::min<std::chrono::nanoseconds>(wait,
                                                  d.line.front().due - now);
    timespec limit{0, long(std::max<std::int64_t>(wait.count(), 0))};
    pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    if (::ppoll(fds, 2, &limit, nullptr) < 0) {
      if (errno == EINTR)
        continue;
      fail("poll");
    }
    now = clock_type::now();
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & POLLIN))
        continue;
      auto& d = dirs[i];
      for (;;) {
        auto n = ::read(d.from, buffer.data(), buffer.size());
        if (n <= 0)
          break;
        ++d.packets;
        d.bytes += std::uint64_t(n);
        if (drop(d.random)) {
          ++d.dropped;
          continue;
        }
        d.line.push_back({now + delay, std::string(buffer.data(), size_t(n))});
      }
    }
  }
  for (int i = 0; i < 2; ++i)
    std::printf("%s -> %s: %llu packets, %llu bytes, %llu dropped, %llu "
                "delivered\n",
                i == 0 ? tun_a.c_str() : tun_b.c_str(),
                i == 0 ? tun_b.c_str() : tun_a.c_str(),
                (unsigned long long)dirs[i].packets,
                (unsigned long long)dirs[i].bytes,
                (unsigned long long)dirs[i].dropped,
                (unsigned long long)dirs[i].delivered);
  std::fflush(stdout);
}

sockaddr_in address_of(const std::string& host, const std::string& port) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(std::uint16_t(std::stoi(port)));
  if (::inet_pton(AF_INET, host.c_str(), &to.sin_addr) != 1) {
    errno = EINVAL;
    fail("address " + host);
  }
  return to;
}

void sink(const std::string& host, const std::string& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  auto at = address_of(host, port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) < 0)
    fail("bind");
  if (::listen(fd, 1) < 0)
    fail("listen");
  std::printf("listening\n");
  std::fflush(stdout);
  int peer = ::accept(fd, nullptr, nullptr);
  if (peer < 0)
    fail("accept");
  std::vector<char> buffer(1 << 16);
  std::uint64_t total = 0;
  for (;;) {
    auto n = ::read(peer, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      fail("read");
    if (n == 0)
      break;
    total += std::uint64_t(n);
  }
  char done = 1;
  if (::write(peer, &done, 1) != 1)
    fail("write");
  ::close(peer);
  std::printf("received %llu bytes\n", (unsigned long long)total);
}

void send(const std::string& host, const std::string& port,
          std::uint64_t bytes) {
  std::vector<char> buffer(1 << 16);
  std::mt19937 random(1);
  for (auto& c : buffer)
    c = char(random());
  auto started = clock_type::now();
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto to = address_of(host, port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
    fail("connect");
  std::uint64_t sent = 0;
  while (sent < bytes) {
    auto n = ::write(fd, buffer.data(),
                     size_t(std::min<std::uint64_t>(buffer.size(),
                                                    bytes - sent)));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      fail("write");
    sent += std::uint64_t(n);
  }
  ::shutdown(fd, SHUT_WR);
  char done = 0;
  if (::read(fd, &done, 1) != 1)
    fail("no answer from the sink");
  double seconds =
    std::chrono::duration<double>(clock_type::now() - started).count();
  char algorithm[16] = {};
  socklen_t length = sizeof algorithm - 1;
  ::getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, algorithm, &length);
  tcp_info info{};
  length = sizeof info;
  ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length);
  std::printf("sent %llu bytes in %.3f s (%s, smoothed RTT %.1f ms, %u "
              "segments retransmitted)\n",
              (unsigned long long)sent, seconds, algorithm,
              info.tcpi_rtt / 1000.0, info.tcpi_total_retrans);
}

/// Answers each UDP datagram to ADDRESS:PORT with itself, until killed.
void echo(const std::string& host, const std::string& port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  auto at = address_of(host, port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) < 0)
    fail("bind");
  std::printf("listening\n");
  std::fflush(stdout);
  char buffer[64];
  while (!stop_requested) {
    sockaddr_in from{};
    socklen_t length = sizeof from;
    auto n = ::recvfrom(fd, buffer, sizeof buffer, 0,
                        reinterpret_cast<sockaddr*>(&from), &length);
    if (n > 0)
      ::sendto(fd, buffer, size_t(n), 0, reinterpret_cast<sockaddr*>(&from),
               length);
  }
}

/// Sends `count` numbered UDP datagrams to an echo, one every
/// `interval_ms`, and waits a second for the last answers; prints how many
/// came back and their round-trip times.
void ping(const std::string& host, const std::string& port, int count,
          double interval_ms) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  auto to = address_of(host, port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
    fail("connect");
  std::vector<clock_type::time_point> sent_at(static_cast<size_t>(count));
  std::vector<double> rtts;
  auto interval = std::chrono::duration_cast<clock_type::duration>(
    std::chrono::duration<double, std::milli>(interval_ms));
  auto start = clock_type::now();
  auto end = start + interval * count + std::chrono::seconds(1);
  int next = 0;
  while (clock_type::now() < end && int(rtts.size()) < count) {
    auto now = clock_type::now();
    if (next < count && now >= start + interval * next) {
      std::uint32_t seq = std::uint32_t(next);
      sent_at[size_t(next)] = now;
      if (::send(fd, &seq, sizeof seq, 0) != sizeof seq)
        fail("send");
      ++next;
      continue;
    }
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, 1);
    std::uint32_t seq = 0;
    while (::recv(fd, &seq, sizeof seq, 0) == sizeof seq)
      if (seq < std::uint32_t(next))
        rtts.push_back(std::chrono::duration<double, std::milli>(
                         clock_type::now() - sent_at[seq])
                         .count());
  }
  std::sort(rtts.begin(), rtts.end());
  if (rtts.empty()) {
    std::printf("%d sent, 0 answered\n", count);
    return;
  }
  std::printf("%d sent, %zu answered, round trip min %.1f median %.1f max "
              "%.1f ms\n",
              count, rtts.size(), rtts.front(), rtts[rtts.size() / 2],
              rtts.back());
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::signal(SIGTERM, on_stop);
  std::signal(SIGINT, on_stop);
  if (args.size() == 6 && args[0] == "forward")
    forward(args[1], args[2], std::stod(args[3]), std::stod(args[4]),
            std::stoull(args[5]));
  else if (args.size() == 3 && args[0] == "sink")
    sink(args[1], args[2]);
  else if (args.size() == 4 && args[0] == "send")
    send(args[1], args[2], std::stoull(args[3]));
  else if (args.size() == 3 && args[0] == "echo")
    echo(args[1], args[2]);
  else if (args.size() == 5 && args[0] == "ping")
    ping(args[1], args[2], std::stoi(args[3]), std::stod(args[4]));
  else {
    std::fprintf(stderr,
                 "usage: tun_forwarder forward TUN_A TUN_B DELAY_MS LOSS "
                 "SEED\n       tun_forwarder sink ADDRESS PORT\n"
                 "       tun_forwarder send ADDRESS PORT BYTES\n"
                 "       tun_forwarder echo ADDRESS PORT\n"
                 "       tun_forwarder ping ADDRESS PORT COUNT INTERVAL_MS\n");
    return 2;
  }
  return 0;
}
