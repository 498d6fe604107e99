#include "actors/run/amqp.hpp"

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <sys/time.h>

#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace pixline {

namespace {

constexpr amqp_channel_t channel = 1;

std::string text_of(amqp_bytes_t b) {
  return b.bytes ? std::string(static_cast<const char*>(b.bytes), b.len)
                 : std::string{};
}

amqp_bytes_t bytes_of(const std::string& s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

/// Whether a failed reply means the connection is gone (try again) rather
/// than a refusal: the library's own errors (sockets, timeouts) and the
/// broker closing connections as it shuts down (320 CONNECTION_FORCED).
bool transient(const amqp_rpc_reply_t& r) {
  if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION)
    return true;
  if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
    return static_cast<amqp_connection_close_t*>(r.reply.decoded)->reply_code
           == AMQP_CONNECTION_FORCED;
  return false;
}

/// The text of a reply that was not normal: the library's reason, or the
/// broker's code and text.
std::string reply_text(const amqp_rpc_reply_t& r) {
  switch (r.reply_type) {
  case AMQP_RESPONSE_NORMAL:
    return "ok";
  case AMQP_RESPONSE_NONE:
    return "no reply";
  case AMQP_RESPONSE_LIBRARY_EXCEPTION:
    return amqp_error_string2(r.library_error);
  case AMQP_RESPONSE_SERVER_EXCEPTION:
    if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
      auto* m = static_cast<amqp_connection_close_t*>(r.reply.decoded);
      return fmt::format("the broker closed the connection: {} {}",
                         m->reply_code, text_of(m->reply_text));
    }
    if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
      auto* m = static_cast<amqp_channel_close_t*>(r.reply.decoded);
      return fmt::format("the broker closed the channel: {} {}",
                         m->reply_code, text_of(m->reply_text));
    }
    return fmt::format("the broker answered method {:#x}", r.reply.id);
  }
  return "unknown reply";
}

/// String and integer headers of a message; x-delivery-count separately.
void read_headers(const amqp_basic_properties_t& props, amqp_delivery& d) {
  if (!(props._flags & AMQP_BASIC_HEADERS_FLAG))
    return;
  for (int i = 0; i < props.headers.num_entries; ++i) {
    auto& e = props.headers.entries[i];
    auto key = text_of(e.key);
    auto& v = e.value;
    std::optional<std::int64_t> number;
    switch (v.kind) {
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:
      d.headers[key] = text_of(v.value.bytes);
      break;
    case AMQP_FIELD_KIND_I8: number = v.value.i8; break;
    case AMQP_FIELD_KIND_U8: number = v.value.u8; break;
    case AMQP_FIELD_KIND_I16: number = v.value.i16; break;
    case AMQP_FIELD_KIND_U16: number = v.value.u16; break;
    case AMQP_FIELD_KIND_I32: number = v.value.i32; break;
    case AMQP_FIELD_KIND_U32: number = v.value.u32; break;
    case AMQP_FIELD_KIND_I64: number = v.value.i64; break;
    case AMQP_FIELD_KIND_U64: number = std::int64_t(v.value.u64); break;
    default: break;
    }
    if (number) {
      d.headers[key] = std::to_string(*number);
      if (key == "x-delivery-count")
        d.delivery_count = int(*number);
    }
  }
}

} // namespace

namespace {

/// %XX escapes decoded, as in a URI.
std::string percent_decoded(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit((unsigned char)s[i + 1])
        && std::isxdigit((unsigned char)s[i + 2])) {
      out += char(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

} // namespace

amqp_address parse_amqp_url(const std::string& url,
                            const std::string& password_env) {
  bool tls = url.rfind("amqps://", 0) == 0;
  if (!tls && url.rfind("amqp://", 0) != 0)
    throw std::invalid_argument(
      fmt::format("url \"{}\" must start with amqp:// or amqps://", url));
  amqp_address a;
  a.tls = tls;
  // RabbitMQ's query parameters for TLS; rabbitmq-c's parser knows none.
  auto query_at = url.find('?');
  std::string copy = url.substr(0, query_at);
  if (query_at != std::string::npos) {
    std::string query = url.substr(query_at + 1);
    for (std::size_t start = 0; start <= query.size();) {
      auto amp = query.find('&', start);
      auto pair = query.substr(start, amp == std::string::npos
                                        ? std::string::npos
                                        : amp - start);
      start = amp == std::string::npos ? query.size() + 1 : amp + 1;
      if (pair.empty())
        continue;
      auto eq = pair.find('=');
      auto key = pair.substr(0, eq);
      auto value = eq == std::string::npos ? std::string{}
                                           : percent_decoded(pair.substr(eq + 1));
      std::string* field = key == "cacertfile" ? &a.ca_file
                           : key == "certfile" ? &a.cert_file
                           : key == "keyfile"  ? &a.key_file
                                               : nullptr;
      if (!field)
        throw std::invalid_argument(fmt::format(
          "url: unknown parameter \"{}\" (known: cacertfile, certfile, "
          "keyfile)",
          key));
      if (value.empty())
        throw std::invalid_argument(
          fmt::format("url: parameter \"{}\" needs a file", key));
      *field = value;
    }
  }
  if (!tls && !(a.ca_file.empty() && a.cert_file.empty() && a.key_file.empty()))
    throw std::invalid_argument(
      "url: cacertfile, certfile and keyfile are for amqps:// (TLS) only");
  if (a.cert_file.empty() != a.key_file.empty())
    throw std::invalid_argument(
      "url: certfile and keyfile go together (a client certificate and its "
      "key)");
  amqp_connection_info info{};
  if (amqp_parse_url(copy.data(), &info) != AMQP_STATUS_OK)
    throw std::invalid_argument(fmt::format(
      "url: not a broker address ({}://USER:PASS@HOST:PORT/VHOST)",
      tls ? "amqps" : "amqp"));
  a.host = info.host;
  a.port = info.port;
  a.user = info.user;
  a.password = info.password;
  // amqp_parse_url gives "/" for a missing vhost, and the decoded name
  // otherwise ("amqp://h/%2f" is "/").
  a.vhost = *info.vhost ? info.vhost : "/";
  if (!password_env.empty())
    if (const char* p = std::getenv(password_env.c_str()); p && *p)
      a.password = p;
  a.shown = fmt::format("{}://{}@{}:{}/{}", tls ? "amqps" : "amqp", a.user,
                        a.host, a.port, a.vhost == "/" ? "" : a.vhost);
  return a;
}

queue_names queue_names_of(const source_section& source) {
  return {source.queue, source.queue + ".dead", source.max_deliveries};
}

amqp_connection::amqp_connection(const amqp_address& address, int heartbeat)
  : address_(address), conn_(amqp_new_connection()) {
  if (!conn_)
    throw amqp_error("out of memory for a broker connection");
  auto fail = [&](const std::string& why, bool transient = true) {
    amqp_destroy_connection(conn_);
    conn_ = nullptr;
    throw amqp_error(fmt::format("{}: {}", address_.shown, why), transient);
  };
  auto* socket = address_.tls ? amqp_ssl_socket_new(conn_)
                              : amqp_tcp_socket_new(conn_);
  if (!socket)
    fail("cannot create a socket");
  if (address_.tls) {
    // Verified always: the broker's certificate against the CA, and its
    // name against the host of the URL.
    amqp_ssl_socket_set_verify_peer(socket, 1);
    amqp_ssl_socket_set_verify_hostname(socket, 1);
    if (!address_.ca_file.empty()) {
      if (amqp_ssl_socket_set_cacert(socket, address_.ca_file.c_str()))
        fail(fmt::format("cannot read the CA certificates in cacertfile {}",
                         address_.ca_file),
             false);
    } else if (auto* ctx = static_cast<SSL_CTX*>(
                 amqp_ssl_socket_get_context(socket));
               !ctx || SSL_CTX_set_default_verify_paths(ctx) != 1) {
      fail("cannot load the system's CA certificates", false);
    }
    if (!address_.cert_file.empty()
        && amqp_ssl_socket_set_key(socket, address_.cert_file.c_str(),
                                   address_.key_file.c_str()))
      fail(fmt::format("cannot read the client certificate {} or its key {}",
                       address_.cert_file, address_.key_file),
           false);
  }
  timeval connect_timeout{5, 0};
  if (int rc = amqp_socket_open_noblock(socket, address_.host.c_str(),
                                        address_.port, &connect_timeout)) {
    auto ca = address_.ca_file.empty()
                ? std::string{"the system's CAs"}
                : fmt::format("the CA in cacertfile {}", address_.ca_file);
    switch (rc) {
    case AMQP_STATUS_SSL_PEER_VERIFY_FAILED:
      fail(fmt::format("cannot connect: TLS: the broker's certificate is not "
                       "trusted (not signed by {}, or expired)",
                       ca),
           false);
      break;
    case AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED:
      fail(fmt::format("cannot connect: TLS: the broker's certificate is not "
                       "for host {}",
                       address_.host),
           false);
      break;
    case AMQP_STATUS_SSL_CONNECTION_FAILED: {
      // OpenSSL's reason is still queued on this thread.
      auto error = ERR_peek_last_error();
      ERR_clear_error();
      if (ERR_GET_REASON(error) == SSL_R_CERTIFICATE_VERIFY_FAILED)
        fail(fmt::format("cannot connect: TLS: the broker's certificate is "
                         "not trusted (not signed by {}, expired, or not for "
                         "host {})",
                         ca, address_.host),
             false);
      auto* reason = ERR_reason_error_string(error);
      fail(fmt::format("cannot connect: TLS handshake failed: {} (is port {} "
                       "the broker's TLS port?)",
                       reason ? reason : "no reason given", address_.port));
      break;
    }
    default:
      fail(fmt::format("cannot connect: {}", amqp_error_string2(rc)));
    }
  }
  timeval rpc_timeout{30, 0};
  amqp_set_rpc_timeout(conn_, &rpc_timeout);
  auto login = amqp_login(conn_, address_.vhost.c_str(), 0, 131072,
                          heartbeat, AMQP_SASL_METHOD_PLAIN,
                          address_.user.c_str(), address_.password.c_str());
  if (login.reply_type != AMQP_RESPONSE_NORMAL)
    fail(fmt::format("login as {} refused: {}", address_.user,
                     reply_text(login)),
         transient(login));
  amqp_channel_open(conn_, channel);
  auto opened = amqp_get_rpc_reply(conn_);
  if (opened.reply_type != AMQP_RESPONSE_NORMAL)
    fail(fmt::format("cannot open a channel: {}", reply_text(opened)),
         transient(opened));
}

amqp_connection::~amqp_connection() {
  if (!conn_)
    return;
  // A clean close tells the broker at once; on a dead link it fails fast.
  timeval quick{2, 0};
  amqp_set_rpc_timeout(conn_, &quick);
  amqp_channel_close(conn_, channel, AMQP_REPLY_SUCCESS);
  amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn_);
}

void amqp_connection::check_rpc(const char* what) {
  auto r = amqp_get_rpc_reply(conn_);
  if (r.reply_type != AMQP_RESPONSE_NORMAL)
    throw amqp_error(
      fmt::format("{}: {}: {}", address_.shown, what, reply_text(r)),
      transient(r));
}

void amqp_connection::reopen_channel() {
  amqp_channel_close_ok_t ok{};
  amqp_send_method(conn_, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
  amqp_channel_open(conn_, channel);
  check_rpc("reopening the channel");
  confirming_ = false;
  next_seq_ = 1;
}

void amqp_connection::declare(const queue_names& names) {
  amqp_table_entry_t dead_args[1];
  dead_args[0].key = amqp_cstring_bytes("x-queue-type");
  dead_args[0].value.kind = AMQP_FIELD_KIND_UTF8;
  dead_args[0].value.value.bytes = amqp_cstring_bytes("quorum");
  amqp_queue_declare(conn_, channel, bytes_of(names.dead), 0, 1, 0, 0,
                     amqp_table_t{1, dead_args});
  check_rpc(fmt::format("declaring queue {}", names.dead).c_str());

  amqp_table_entry_t args[4];
  args[0] = dead_args[0];
  // The broker dead-letters a message returned more than the limit times:
  // with limit N - 1, the N-th delivery that ends without an
  // acknowledgement is the last (tests/e2e/queue.test.cpp).
  args[1].key = amqp_cstring_bytes("x-delivery-limit");
  args[1].value.kind = AMQP_FIELD_KIND_I64;
  args[1].value.value.i64 = names.max_deliveries - 1;
  args[2].key = amqp_cstring_bytes("x-dead-letter-exchange");
  args[2].value.kind = AMQP_FIELD_KIND_UTF8;
  args[2].value.value.bytes = amqp_cstring_bytes("");
  args[3].key = amqp_cstring_bytes("x-dead-letter-routing-key");
  args[3].value.kind = AMQP_FIELD_KIND_UTF8;
  args[3].value.value.bytes = bytes_of(names.dead);
  amqp_queue_declare(conn_, channel, bytes_of(names.work), 0, 1, 0, 0,
                     amqp_table_t{4, args});
  check_rpc(fmt::format("declaring queue {} (a queue of that name declared "
                        "with other settings, e.g. another max_deliveries, "
                        "must be deleted first)",
                        names.work)
              .c_str());
}

std::optional<queue_counts> amqp_connection::counts(const std::string& queue) {
  auto* ok = amqp_queue_declare(conn_, channel, bytes_of(queue), 1, 0, 0, 0,
                                amqp_empty_table);
  if (!ok) {
    auto r = amqp_get_rpc_reply(conn_);
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION
        && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD
        && static_cast<amqp_channel_close_t*>(r.reply.decoded)->reply_code
             == AMQP_NOT_FOUND) {
      reopen_channel();
      return std::nullopt;
    }
    throw amqp_error(fmt::format("{}: queue {}: {}", address_.shown, queue,
                                 reply_text(r)),
                     transient(r));
  }
  return queue_counts{ok->message_count, ok->consumer_count};
}

void amqp_connection::confirm_select() {
  amqp_confirm_select(conn_, channel);
  check_rpc("turning on publisher confirms");
  confirming_ = true;
}

void amqp_connection::qos(int prefetch) {
  amqp_basic_qos(conn_, channel, 0, std::uint16_t(prefetch), 0);
  check_rpc("setting the prefetch window");
}

void amqp_connection::consume(const std::string& queue) {
  auto* ok = amqp_basic_consume(conn_, channel, bytes_of(queue),
                                amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  check_rpc(fmt::format("consuming from {}", queue).c_str());
  consumer_tag_ = text_of(ok->consumer_tag);
}

void amqp_connection::cancel() {
  if (consumer_tag_.empty())
    return;
  amqp_basic_cancel(conn_, channel, bytes_of(consumer_tag_));
  check_rpc("cancelling the consumer");
  consumer_tag_.clear();
}

std::uint64_t amqp_connection::publish(
  const std::string& queue, const std::string& body,
  const std::map<std::string, std::string>& headers) {
  std::vector<amqp_table_entry_t> entries;
  for (auto& [key, value] : headers) {
    amqp_table_entry_t e{};
    e.key = bytes_of(key);
    e.value.kind = AMQP_FIELD_KIND_UTF8;
    e.value.value.bytes = bytes_of(value);
    entries.push_back(e);
  }
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
  props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
  props.content_type = amqp_cstring_bytes("text/plain");
  if (!entries.empty()) {
    props._flags |= AMQP_BASIC_HEADERS_FLAG;
    props.headers = amqp_table_t{int(entries.size()), entries.data()};
  }
  int rc = amqp_basic_publish(conn_, channel, amqp_cstring_bytes(""),
                              bytes_of(queue), 1, 0, &props, bytes_of(body));
  if (rc != AMQP_STATUS_OK)
    throw amqp_error(fmt::format("{}: publishing: {}", address_.shown,
                                 amqp_error_string2(rc)));
  return confirming_ ? next_seq_++ : 0;
}

void amqp_connection::ack(std::uint64_t tag) {
  if (int rc = amqp_basic_ack(conn_, channel, tag, 0))
    throw amqp_error(fmt::format("{}: acknowledging: {}", address_.shown,
                                 amqp_error_string2(rc)));
}

void amqp_connection::nack_requeue(std::uint64_t tag) {
  if (int rc = amqp_basic_nack(conn_, channel, tag, 0, 1))
    throw amqp_error(fmt::format("{}: returning a message: {}",
                                 address_.shown, amqp_error_string2(rc)));
}

std::optional<amqp_delivery> amqp_connection::get(const std::string& queue) {
  amqp_maybe_release_buffers(conn_);
  auto r = amqp_basic_get(conn_, channel, bytes_of(queue), 0);
  if (r.reply_type != AMQP_RESPONSE_NORMAL)
    throw amqp_error(fmt::format("{}: reading {}: {}", address_.shown, queue,
                                 reply_text(r)));
  if (r.reply.id != AMQP_BASIC_GET_OK_METHOD)
    return std::nullopt;
  amqp_delivery d;
  d.tag = static_cast<amqp_basic_get_ok_t*>(r.reply.decoded)->delivery_tag;
  amqp_message_t msg;
  auto read = amqp_read_message(conn_, channel, &msg, 0);
  if (read.reply_type != AMQP_RESPONSE_NORMAL)
    throw amqp_error(fmt::format("{}: reading {}: {}", address_.shown, queue,
                                 reply_text(read)));
  d.body = text_of(msg.body);
  read_headers(msg.properties, d);
  amqp_destroy_message(&msg);
  return d;
}

amqp_connection::event
amqp_connection::wait(std::chrono::milliseconds timeout) {
  event ev;
  amqp_maybe_release_buffers(conn_);
  timeval tv{long(timeout.count() / 1000), long(timeout.count() % 1000) * 1000};
  amqp_envelope_t env;
  auto r = amqp_consume_message(conn_, &env, &tv, 0);
  if (r.reply_type == AMQP_RESPONSE_NORMAL) {
    ev.kind = event::delivery;
    ev.message.tag = env.delivery_tag;
    ev.message.redelivered = env.redelivered;
    ev.message.body = text_of(env.message.body);
    read_headers(env.message.properties, ev.message);
    amqp_destroy_envelope(&env);
    return ev;
  }
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
      && r.library_error == AMQP_STATUS_TIMEOUT)
    return ev;
  if (r.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION
      || r.library_error != AMQP_STATUS_UNEXPECTED_STATE)
    throw amqp_error(fmt::format("{}: {}", address_.shown, reply_text(r)));
  // Something other than a delivery: a confirm, a returned message, or
  // the broker closing the channel or connection.
  amqp_frame_t frame;
  if (int rc = amqp_simple_wait_frame(conn_, &frame))
    throw amqp_error(fmt::format("{}: {}", address_.shown,
                                 amqp_error_string2(rc)));
  if (frame.frame_type != AMQP_FRAME_METHOD)
    return ev;
  auto& m = frame.payload.method;
  switch (m.id) {
  case AMQP_BASIC_ACK_METHOD: {
    auto* a = static_cast<amqp_basic_ack_t*>(m.decoded);
    ev.kind = event::confirm_ack;
    ev.seq = a->delivery_tag;
    ev.multiple = a->multiple;
    return ev;
  }
  case AMQP_BASIC_NACK_METHOD: {
    auto* n = static_cast<amqp_basic_nack_t*>(m.decoded);
    ev.kind = event::confirm_nack;
    ev.seq = n->delivery_tag;
    ev.multiple = n->multiple;
    return ev;
  }
  case AMQP_BASIC_RETURN_METHOD: {
    amqp_message_t msg;
    auto read = amqp_read_message(conn_, frame.channel, &msg, 0);
    if (read.reply_type != AMQP_RESPONSE_NORMAL)
      throw amqp_error(fmt::format("{}: {}", address_.shown,
                                   reply_text(read)));
    ev.kind = event::returned;
    ev.message.body = text_of(msg.body);
    amqp_destroy_message(&msg);
    return ev;
  }
  case AMQP_CHANNEL_CLOSE_METHOD: {
    auto* c = static_cast<amqp_channel_close_t*>(m.decoded);
    throw amqp_error(fmt::format("{}: the broker closed the channel: {} {}",
                                 address_.shown, c->reply_code,
                                 text_of(c->reply_text)));
  }
  case AMQP_CONNECTION_CLOSE_METHOD: {
    auto* c = static_cast<amqp_connection_close_t*>(m.decoded);
    throw amqp_error(fmt::format(
      "{}: the broker closed the connection: {} {}", address_.shown,
      c->reply_code, text_of(c->reply_text)));
  }
  case AMQP_BASIC_CANCEL_METHOD:
    throw amqp_error(fmt::format("{}: the broker cancelled the consumer "
                                 "(was the queue deleted?)",
                                 address_.shown));
  default:
    return ev;
  }
}

int amqp_connection::fd() const {
  return amqp_get_sockfd(conn_);
}

bool amqp_connection::buffered() const {
  return amqp_frames_enqueued(conn_) || amqp_data_in_buffer(conn_);
}

} // namespace pixline
