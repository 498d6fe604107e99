// A peer that has not completed CAF's handshake cannot make pixline
// allocate more than max_handshake_payload per connection.
//
// CAF 0.17's protocol (BASP) reads a 32-byte header and then allocates the
// payload size the header announces, up to 4 GiB, before it looks at it;
// without TLS, anyone who can reach a node's port could make it allocate
// that much per connection. CAF has no setting to bound it, so this program
// wraps two functions of libcaf_io, as app/tls_refusals.cpp wraps
// SSL_accept: the executable exports its own definitions (-rdynamic, see
// CMakeLists.txt), the dynamic linker binds libcaf_io's calls to them (they
// go through its PLT), and the real functions are found with
// dlsym(RTLD_NEXT):
//
// - the constructor of caf::io::network::stream, made for every new
//   connection, marks its socket as not yet through the handshake;
// - caf::io::basp::instance::handle, called with each header and each
//   payload read, refuses (closes) a connection whose first message with a
//   payload is not a handshake or announces more than the bound, before
//   CAF asks for the payload's buffer, and lets the connection through once
//   a handshake's payload has been accepted.

#include <dlfcn.h>
#include <sys/socket.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include <caf/io/basp/connection_state.hpp>
#include <caf/io/basp/header.hpp>
#include <caf/io/basp/message_type.hpp>
#include <caf/io/system_messages.hpp>
#include <spdlog/spdlog.h>

#include "app/peer_address.hpp"

namespace {

/// Largest payload of a handshake: CAF's are a few hundred bytes.
constexpr std::uint32_t max_handshake_payload = 1 << 20;

/// Sockets of connections that have not completed the handshake.
struct gate {
  std::mutex mutex;
  std::unordered_map<std::int64_t, bool> waiting;
};

gate& the_gate() {
  static auto* g = new gate; // never destroyed: CAF may outlive statics
  return *g;
}

bool is_handshake(caf::io::basp::message_type m) {
  return m == caf::io::basp::message_type::client_handshake
         || m == caf::io::basp::message_type::server_handshake;
}

const char* const stream_ctor
  = "_ZN3caf2io7network6streamC2ERNS1_19default_multiplexerEi";
const char* const handle_fn = "_ZN3caf2io4basp8instance6handleEPNS_"
                              "14execution_unitERNS0_12new_data_msgERNS1_"
                              "6headerEb";

} // namespace

// caf::io::network::stream::stream(default_multiplexer&, native_socket)
// (the base-object constructor, which stream_impl's calls).
extern "C" void pixline_stream_constructor(void* self, void* multiplexer,
                                           int fd)
  __asm__("_ZN3caf2io7network6streamC2ERNS1_19default_multiplexerEi");

extern "C" void pixline_stream_constructor(void* self, void* multiplexer,
                                           int fd) {
  using ctor_fn = void (*)(void*, void*, int);
  static const auto real
    = reinterpret_cast<ctor_fn>(::dlsym(RTLD_NEXT, stream_ctor));
  real(self, multiplexer, fd);
  auto& g = the_gate();
  std::lock_guard<std::mutex> guard{g.mutex};
  g.waiting[fd] = true;
}

// caf::io::basp::instance::handle(execution_unit*, new_data_msg&, header&,
// bool is_payload).
extern "C" int pixline_basp_handle(void* self, void* context,
                                   caf::io::new_data_msg* data,
                                   caf::io::basp::header* hdr,
                                   bool is_payload)
  __asm__("_ZN3caf2io4basp8instance6handleEPNS_14execution_unitERNS0_12new_"
          "data_msgERNS1_6headerEb");

extern "C" int pixline_basp_handle(void* self, void* context,
                                   caf::io::new_data_msg* data,
                                   caf::io::basp::header* hdr,
                                   bool is_payload) {
  using handle_fn_t = int (*)(void*, void*, caf::io::new_data_msg*,
                              caf::io::basp::header*, bool);
  static const auto real
    = reinterpret_cast<handle_fn_t>(::dlsym(RTLD_NEXT, handle_fn));
  auto fd = data->handle.id();
  auto& g = the_gate();
  bool waiting;
  {
    std::lock_guard<std::mutex> guard{g.mutex};
    auto i = g.waiting.find(fd);
    waiting = i != g.waiting.end();
  }
  auto state = real(self, context, data, hdr, is_payload);
  if (!waiting)
    return state;
  auto done = [&] {
    std::lock_guard<std::mutex> guard{g.mutex};
    g.waiting.erase(fd);
  };
  if (state != caf::io::basp::await_header
      && state != caf::io::basp::await_payload) {
    done(); // CAF closes it
    return state;
  }
  if (!is_payload && state == caf::io::basp::await_payload) {
    // A header whose payload CAF would allocate next.
    if (is_handshake(hdr->operation)
        && hdr->payload_len <= max_handshake_payload)
      return state;
    if (is_handshake(hdr->operation))
      spdlog::warn("refused a connection from {}: its handshake announces a "
                   "payload of {} bytes (at most {})",
                   pixline::peer_address(int(fd)), hdr->payload_len,
                   max_handshake_payload);
    else
      spdlog::warn("refused a connection from {}: a message of {} bytes "
                   "before the handshake",
                   pixline::peer_address(int(fd)), hdr->payload_len);
    done();
    return caf::io::basp::close_connection;
  }
  if (is_payload && is_handshake(hdr->operation)
      && state == caf::io::basp::await_header)
    done(); // through the handshake
  return state;
}
