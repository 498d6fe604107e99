#include "app/peer_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace pixline {

std::string peer_address(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (fd < 0
      || ::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length)
           != 0)
    return "an unknown peer";
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (address.ss_family == AF_INET) {
    auto& in = reinterpret_cast<sockaddr_in&>(address);
    ::inet_ntop(AF_INET, &in.sin_addr, host, sizeof host);
    port = ntohs(in.sin_port);
    return std::string{host} + ":" + std::to_string(port);
  }
  auto& in6 = reinterpret_cast<sockaddr_in6&>(address);
  ::inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof host);
  port = ntohs(in6.sin6_port);
  return "[" + std::string{host} + "]:" + std::to_string(port);
}

} // namespace pixline
