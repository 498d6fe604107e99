#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "support/images.hpp"

namespace pixline::test {

/// Two network namespaces, "a" and "b", joined by a link with a fixed
/// one-way delay and a random loss in each direction (this kernel has no
/// netem): a tun device in each, and a tun_forwarder process
/// (tests/support/tun_forwarder.cpp) in between that copies each packet to
/// the other side `delay_ms` later or, with probability `loss`, drops it
/// (seeded). TCP on the link uses `congestion` (per route: a namespace may
/// not change its default). Needs root and /dev/net/tun (made with mknod
/// when missing); REQUIREs that every step works. The namespaces and the
/// forwarder go when the object dies.
class lossy_link {
public:
  lossy_link(const std::filesystem::path& dir, double delay_ms, double loss,
             const std::string& congestion = "cubic",
             std::uint64_t seed = 30);
  lossy_link(const lossy_link&) = delete;
  lossy_link& operator=(const lossy_link&) = delete;

  /// Addresses of the two sides.
  const std::string& a() const {
    return a_;
  }
  const std::string& b() const {
    return b_;
  }

  /// `args` as a command that runs them in namespace a (or b).
  std::vector<std::string> in_a(std::vector<std::string> args) const;
  std::vector<std::string> in_b(std::vector<std::string> args) const;

  /// IP bytes handed to the link so far, each way (packets it then
  /// dropped included).
  struct counters {
    std::uint64_t a_to_b = 0;
    std::uint64_t b_to_a = 0;
  };
  counters bytes() const;

  /// Round trips of 500 UDP datagrams from a to b, 2 ms apart: the
  /// tun_forwarder's line ("500 sent, N answered, round trip min ... ms").
  std::string ping() const;

  /// A plain TCP transfer of `bytes` from a to b on a fresh connection:
  /// its seconds, from before the connect to the receiver's answer after
  /// the last byte, and the sender's line (congestion control, RTT,
  /// retransmissions).
  struct transfer {
    double seconds = 0;
    std::string report;
  };
  transfer send(std::uint64_t bytes) const;

  /// Stops the forwarder and returns its counters: per direction, the
  /// packets it read, their bytes, how many it dropped and delivered.
  struct direction {
    std::uint64_t packets = 0, bytes = 0, dropped = 0, delivered = 0;
  };
  std::vector<direction> stop();

private:
  std::vector<std::string> in(const std::string& ns,
                              std::vector<std::string> args) const;

  /// Deletes the namespaces it was given when it dies, also when the
  /// constructor fails half-way.
  struct namespaces {
    std::vector<std::string> names;
    ~namespaces();
  };

  std::filesystem::path dir_;
  std::string ns_a_, ns_b_, tun_a_, tun_b_, a_, b_, ip_;
  namespaces made_;
  // After made_: the forwarder stops before the namespaces go.
  std::unique_ptr<child_process> forwarder_;
};

} // namespace pixline::test
