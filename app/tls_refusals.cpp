// `pixline node` logs the TLS handshakes it refuses.
//
// CAF 0.17 runs OpenSSL inside its network layer and tells nobody when a
// handshake fails: the peer reads "disconnect during handshake" and the
// node's log says nothing. So this program wraps OpenSSL's SSL_accept, the
// call CAF's accepting side makes: the executable exports its own
// definition (-rdynamic, see CMakeLists.txt), which the dynamic linker
// binds libcaf_openssl's calls to, and the real function is found with
// dlsym(RTLD_NEXT). Only a node accepts TLS connections; a coordinator
// never calls it.

#include <dlfcn.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <string>

#include <spdlog/spdlog.h>

#include "app/peer_address.hpp"

namespace {

/// What this file keeps on each SSL object of CAF's (OpenSSL frees it with
/// the object): the peer, read while it is connected, and whether the
/// refusal was logged.
struct handshake {
  std::string peer;
  bool told = false;
};

int handshake_index() {
  static const int index = SSL_get_ex_new_index(
    0, nullptr, nullptr, nullptr,
    [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
      delete static_cast<handshake*>(ptr);
    });
  return index;
}

} // namespace

extern "C" int SSL_accept(SSL* ssl) {
  using accept_fn = int (*)(SSL*);
  static const auto real
    = reinterpret_cast<accept_fn>(::dlsym(RTLD_NEXT, "SSL_accept"));
  // CAF calls again until the handshake is done (and once more after it
  // failed): one line per connection, with the peer read while it is there.
  auto* current = static_cast<handshake*>(
    SSL_get_ex_data(ssl, handshake_index()));
  if (current == nullptr) {
    current = new handshake{pixline::peer_address(SSL_get_fd(ssl)), false};
    SSL_set_ex_data(ssl, handshake_index(), current);
  }
  int rc = real(ssl);
  if (rc > 0 || current->told || SSL_get_error(ssl, rc) != SSL_ERROR_SSL)
    return rc;
  current->told = true;
  // Peek only: the error queue stays as CAF expects it.
  auto code = ERR_peek_last_error();
  auto* in = SSL_get_rbio(ssl);
  if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING
      && (in == nullptr || BIO_number_read(in) == 0)) {
    // Closed before saying anything: a coordinator checking that the port
    // answers before it connects (actors/net/remote.cpp).
    spdlog::debug("{} closed its connection before the TLS handshake",
                  current->peer);
    return rc;
  }
  auto* reason = ERR_reason_error_string(code);
  std::string why = reason != nullptr ? reason : "handshake failed";
  if (auto verified = SSL_get_verify_result(ssl); verified != X509_V_OK)
    why = std::string{"its certificate: "}
          + X509_verify_cert_error_string(verified);
  else if (ERR_GET_REASON(code) == SSL_R_WRONG_VERSION_NUMBER)
    why = "it does not speak TLS (a coordinator without tls = true?)";
  else if (why.find("alert") != std::string::npos)
    why = "it refused this node's certificate (" + why + ")";
  spdlog::warn("refused a TLS handshake from {}: {}", current->peer, why);
  return rc;
}
