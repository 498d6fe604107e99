#pragma once
// The address of a connected socket's peer, for the program's log lines
// about the connections it refuses (app/tls_refusals.cpp,
// app/basp_gate.cpp).

#include <string>

namespace pixline {

/// "10.0.0.2:51234" or "[::1]:51234" for the peer of `fd`, "an unknown
/// peer" when it cannot be read.
std::string peer_address(int fd);

} // namespace pixline
