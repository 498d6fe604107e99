#include "actors/net/remote.hpp"

#include <nlohmann/json.hpp>

#include "actors/process/worker_main.hpp"
#include "actors/process/worker_process.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <thread>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string_view>
#include <variant>

#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "actors/flow/finish.hpp"
#include "pipeline/registry.hpp"

namespace pixline {

namespace {

using namespace std::chrono_literals;

// -- the node -------------------------------------------------------------------

/// Jobs and results travel in parts of at most this many bytes. CAF counts
/// a message as a sign of life only once its last byte arrived, so a whole
/// image in one message (13.5 MB: 5.4 s at 20 Mbit/s) would outlast the
/// connection timeout on a slow link and the connection would be dropped
/// for ever; a part takes 0.1 s at 20 Mbit/s, 2 s at 1 Mbit/s.
constexpr std::size_t part_bytes = 256 * 1024;

/// Sends all but the last part of `bytes` to `to` (a node worker, or a
/// courier) as part_atom messages; returns the last part (maybe empty).
template <class Self, class To>
std::string send_parts(Self* self, const To& to, std::uint64_t id,
                       const std::vector<char>& bytes) {
  std::size_t at = 0;
  while (bytes.size() - at > part_bytes) {
    self->send(to, part_atom::value, id,
               std::string(bytes.data() + at, part_bytes));
    at += part_bytes;
  }
  return std::string(bytes.data() + at, bytes.size() - at);
}

struct parts_state {
  /// The job (or result) whose parts are arriving, and those parts.
  std::uint64_t id = 0;
  std::string bytes;

  void add(std::uint64_t part_of, const std::string& part) {
    if (part_of != id) {
      id = part_of;
      bytes.clear();
    }
    bytes += part;
  }
  /// Everything received for `whole`, with its last part; empty again.
  std::string take(std::uint64_t whole, std::string& last) {
    if (whole != id)
      bytes.clear();
    bytes += last;
    id = 0;
    return std::exchange(bytes, std::string{});
  }
};

/// The courier that sent the message in hand (the only actor that talks
/// to a node worker; CAF hands the sender over untyped).
courier_inbox_actor courier_of(node_worker_actor::pointer self) {
  return caf::actor_cast<courier_inbox_actor>(self->current_sender());
}

/// One worker on a node: a job in, its result out, each in parts (see
/// part_bytes).
node_worker_actor::behavior_type node_worker(node_worker_actor::pointer self,
                                             node_work_fn fn) {
  auto st = std::make_shared<parts_state>();
  return {
    [=](part_atom, std::uint64_t id, std::string& part) {
      st->add(id, part);
      self->send(courier_of(self), got_atom::value, id);
    },
    [=](std::uint64_t id, std::string& last) -> std::string {
      auto courier = courier_of(self);
      // Before the work: the courier's silence limit starts again here, so
      // it limits the work, not the transfer that came before.
      self->send(courier, got_atom::value, id);
      auto whole = st->take(id, last);
      wire_result result;
      try {
        wire_job in;
        deserialize(reinterpret_cast<const unsigned char*>(whole.data()),
                    whole.size(), in);
        whole = std::string{};
        result = fn(in);
      } catch (const std::exception& e) {
        result.error = e.what();
      }
      return send_parts(self, courier, id, serialized(result));
    },
  };
}

struct node_state {
  static inline const char* name = "pixline.node";
  /// Workers by the coordinator actor (a node keeper) that asked for them.
  std::map<caf::actor_addr, std::vector<node_worker_actor>> workers;
};

/// The name of the stage a node recipe runs, for messages.
std::string stage_of_recipe(const std::string& recipe) {
  auto r = nlohmann::json::parse(recipe, nullptr, false);
  if (r.is_discarded())
    return "stage";
  auto kind = r.value("kind", "stage");
  if (kind == "segment" && r.contains("stages") && r["stages"].is_array()) {
    std::string names;
    for (auto& part : r["stages"])
      if (part.is_object()) {
        auto one = part.value("kind", "stage");
        names += (names.empty() ? "" : "+")
                 + (one == "filter" ? part.value("type", "filter") : one);
      }
    return names;
  }
  return kind == "filter" ? r.value("type", "filter") : kind;
}

node_actor::behavior_type
node_server(node_actor::stateful_pointer<node_state> self,
            const stage_registry* registry, const node_options* options) {
  self->set_down_handler([=](caf::down_msg& m) {
    auto i = self->state.workers.find(m.source);
    if (i == self->state.workers.end())
      return;
    spdlog::info("coordinator gone ({}); stopping its {} workers",
                 self->system().render(m.reason), i->second.size());
    for (auto& w : i->second)
      self->send_exit(w, caf::exit_reason::user_shutdown);
    self->state.workers.erase(i);
  });
  return {
    [=](setup_atom, const std::string& recipe, std::uint32_t count,
        caf::actor owner) -> caf::result<std::vector<node_worker_actor>> {
      std::function<node_work_fn()> make;
      try {
        // Checks the recipe here, in the node's process, so a bad one is
        // refused at set-up.
        make = node_worker_factory(recipe, *registry);
        if (options->isolation == "process" && worker_entry_installed()) {
          // The files the recipe carries go to each worker process as
          // sealed memfds, as a local run's do.
          auto carried = unpack_files(recipe, *registry);
          worker_process_settings settings;
          settings.mode = "node";
          settings.recipe = std::move(carried.recipe);
          settings.file_names = std::move(carried.names);
          settings.files = std::move(carried.files);
          settings.stages = {stage_of_recipe(recipe)};
          settings.plugins = registry->plugins();
          settings.image_timeout = options->image_timeout;
          settings.memory_mib = options->worker_memory_mib;
          make = [settings] {
            auto worker = std::make_shared<worker_process>(settings);
            return node_work_fn(
              [worker](wire_job& in) { return worker->run_node(in); });
          };
        }
      } catch (const std::exception& e) {
        spdlog::warn("refused a stage: {}", e.what());
        return caf::make_error(caf::sec::runtime_error, std::string{e.what()});
      }
      std::vector<node_worker_actor> result;
      for (std::uint32_t i = 0; i < count; ++i)
        result.push_back(self->spawn<caf::detached>(node_worker, make()));
      auto& mine = self->state.workers[owner.address()];
      if (mine.empty())
        self->monitor(owner);
      mine.insert(mine.end(), result.begin(), result.end());
      spdlog::info("started {} workers for a coordinator", count);
      return result;
    },
  };
}

} // namespace

void configure_network(caf::actor_system_config& cfg, bool tls,
                       const std::string& certificate, const std::string& key,
                       const std::string& ca,
                       std::chrono::seconds connection_timeout) {
  cfg.load<caf::io::middleman>();
  // Without heartbeats a peer whose host vanished (no FIN, no RST) would
  // look connected forever.
  cfg.set("middleman.heartbeat-interval", caf::timespan{500ms});
  cfg.set("middleman.connection-timeout", caf::timespan{connection_timeout});
  if (tls) {
    cfg.load<caf::openssl::manager>();
    cfg.openssl_certificate = certificate;
    cfg.openssl_key = key;
    cfg.openssl_cafile = ca;
  }
}

namespace {

std::atomic<bool> abandoned{false};

} // namespace

void shut_down_network(std::unique_ptr<caf::actor_system> sys,
                       std::shared_ptr<caf::actor_system_config> cfg,
                       std::chrono::milliseconds grace) {
  // A scoped_actor leaves this thread holding the system's logger (thread
  // local), and the system's destructor waits until the logger is gone: on
  // another thread it would wait for ever. Let go of it here first.
  caf::logger::set_current_actor_system(nullptr);
  auto done = std::make_shared<std::promise<void>>();
  auto stopped = done->get_future();
  std::thread stopper{[sys = std::move(sys), cfg = std::move(cfg),
                       done]() mutable {
    sys.reset();
    cfg.reset();
    done->set_value();
  }};
  if (stopped.wait_for(grace) == std::future_status::ready) {
    stopper.join();
    return;
  }
  stopper.detach();
  abandoned = true;
  spdlog::warn("the network layer did not stop within {} s (a connection "
               "to a node that is gone still has unsent data, or an attempt "
               "to reach one is under way); not waiting for it",
               std::chrono::duration_cast<std::chrono::seconds>(grace).count());
}

bool network_abandoned() {
  return abandoned;
}

void run_node(const node_options& options, const stage_registry& registry) {
  bool tls = !options.tls_certificate.empty();
  auto cfg = std::make_shared<caf::actor_system_config>();
  add_protocol_types(*cfg);
  cfg->set("scheduler.policy", caf::atom("sharing"));
  cfg->set("scheduler.max-threads", size_t{2});
  configure_network(*cfg, tls, options.tls_certificate, options.tls_key,
                    options.tls_ca,
                    std::chrono::seconds(options.connection_timeout));
  network_system owner{cfg};
  auto& sys = *owner.sys;
  auto node = sys.spawn(node_server, &registry, &options);
  auto port = tls ? caf::openssl::publish(node, std::uint16_t(options.port),
                                          options.host.c_str(), true)
                  : sys.middleman().publish(node, std::uint16_t(options.port),
                                            options.host.c_str(), true);
  if (!port) {
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    throw std::runtime_error(fmt::format("cannot listen on {}:{}: {}",
                                         options.host, options.port,
                                         sys.render(port.error())));
  }
  if (options.on_listening)
    options.on_listening(*port);
  std::mutex mutex;
  std::condition_variable cv;
  bool stopped = false;
  if (options.on_running)
    options.on_running([&] {
      std::lock_guard<std::mutex> guard{mutex};
      stopped = true;
      cv.notify_all();
    });
  {
    std::unique_lock<std::mutex> lock{mutex};
    cv.wait(lock, [&] { return stopped; });
  }
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
}

// -- the coordinator ------------------------------------------------------------

namespace {

struct proxy_state {
  bool busy = false;
  /// The node was lost: jobs that still arrive go back to the stage.
  bool dead = false;
  std::string reason;
  job pending;
  /// The message sent for `pending`, kept until the answer: if the node is
  /// lost, the job's image is taken from it, because the job's own lazy
  /// image was already read once to make the message (a file opened for
  /// sequential reading cannot be read again).
  caf::message sent;
  std::chrono::steady_clock::time_point started;
};

/// Why a node's actor went down, in plain words.
std::string loss_reason(caf::actor_system& sys, const caf::error& reason) {
  if (reason == caf::exit_reason::remote_link_unreachable)
    return "the connection to it closed, or nothing came from it within the "
           "connection timeout";
  return sys.render(reason);
}

/// The courier's silence limit for the job in hand: the node's `timeout`
/// counts from the last sign of progress (a part of the job acknowledged by
/// the node, the node starting the work, a part of the answer), so a big
/// image on a slow link is never given up on while its bytes still move,
/// and `timeout` limits the node's work, not the transfers.
struct silence_limit {
  std::uint64_t id = 0;
  /// A job is in hand and its answer not delivered yet.
  bool open = false;
  /// A tick_atom is on its way (at most one at a time).
  bool ticking = false;
  std::chrono::steady_clock::time_point last;
  caf::response_promise answer;
};

/// Carries one remote worker's requests for its proxy. A scheduled actor,
/// not a detached one: CAF 0.17's clock keeps a strong reference to an
/// actor until each of its delayed messages fires, and the actor system
/// waits at exit until every detached actor is released, so a detached
/// actor with a 300 s tick pending would hold up the end of the run by up
/// to 300 s.
courier_actor::behavior_type
courier(courier_actor::pointer self, node_worker_actor remote,
        remote_worker_actor proxy, caf::timespan timeout,
        stage_metrics* metrics) {
  self->monitor(remote);
  self->set_down_handler([=](caf::down_msg& m) {
    if (m.source == remote.address())
      self->send(proxy, lost_atom::value,
                 loss_reason(self->system(), m.reason));
  });
  // The answer's parts, and the number of the job it is for: parts of an
  // answer given up on (timeout) are dropped.
  auto st = std::make_shared<parts_state>();
  auto next = std::make_shared<std::uint64_t>(0);
  auto limit = std::make_shared<silence_limit>();
  auto progress = [=](std::uint64_t id) {
    if (limit->open && id == limit->id)
      limit->last = std::chrono::steady_clock::now();
  };
  auto arm = [=](caf::timespan after) {
    if (limit->ticking)
      return;
    limit->ticking = true;
    self->delayed_send(self, after, tick_atom::value);
  };
  return {
    [=](wire_job& job) -> caf::result<wire_result> {
      auto rp = self->make_response_promise<wire_result>();
      auto id = ++*next;
      st->id = id;
      st->bytes.clear();
      limit->id = id;
      limit->open = true;
      limit->answer = rp;
      limit->last = std::chrono::steady_clock::now();
      arm(timeout);
      auto bytes = serialized(job);
      if (metrics)
        metrics->node_bytes_sent.fetch_add(bytes.size(),
                                           std::memory_order_relaxed);
      auto last = send_parts(self, remote, id, bytes);
      // No request timeout: the silence limit above is the timeout.
      self->request(remote, caf::infinite, id, std::move(last))
        .then(
          [=](std::string& last) mutable {
            if (!limit->open || limit->id != id)
              return;
            limit->open = false;
            auto whole = st->take(id, last);
            if (metrics)
              metrics->node_bytes_received.fetch_add(
                whole.size(), std::memory_order_relaxed);
            wire_result r;
            try {
              deserialize(reinterpret_cast<const unsigned char*>(whole.data()),
                          whole.size(), r);
            } catch (const std::exception& e) {
              r = wire_result{};
              r.error = fmt::format("malformed answer from the node: {}",
                                    e.what());
            }
            rp.deliver(std::move(r));
          },
          [=](caf::error& e) mutable {
            if (!limit->open || limit->id != id)
              return;
            limit->open = false;
            rp.deliver(std::move(e));
          });
      return rp;
    },
    [=](part_atom, std::uint64_t id, std::string& part) {
      if (id == st->id) {
        st->add(id, part);
        progress(id);
      }
    },
    [=](got_atom, std::uint64_t id) { progress(id); },
    [=](tick_atom) {
      limit->ticking = false;
      if (!limit->open)
        return;
      auto quiet = std::chrono::steady_clock::now() - limit->last;
      if (quiet >= timeout) {
        limit->open = false;
        st->id = 0;
        limit->answer.deliver(caf::make_error(caf::sec::request_timeout));
        return;
      }
      arm(std::chrono::duration_cast<caf::timespan>(timeout - quiet));
    },
  };
}

} // namespace

remote_worker_actor::behavior_type
remote_proxy(remote_worker_actor::pointer self, std::string stage,
             std::string node, node_worker_actor remote, std::uint32_t index,
             remote_dispatcher_actor dispatcher, job_sink_actor downstream,
             remote_half half, caf::timespan timeout, std::string encoding,
             stage_metrics* metrics) {
  auto st = std::make_shared<proxy_state>();
  constexpr auto relaxed = std::memory_order_relaxed;
  auto fail = [=](job& j, std::string reason) {
    fail_job(j, stage, std::move(reason));
  };
  // Linked, so it ends when the stage ends the proxy; a proxy that retires
  // ends it explicitly.
  auto link = self->spawn<caf::linked>(courier, remote,
                                       remote_worker_actor{self}, timeout,
                                       metrics);
  // Gives the stage back this worker's job (if any). The proxy stays until
  // the stage answers retire_atom: a job the stage sent before it heard of
  // the loss still arrives here, and goes back too (see below).
  auto lose = [=](const std::string& why) {
    if (st->dead)
      return;
    auto reason = fmt::format("node {}: {}", node, why);
    st->reason = reason;
    st->dead = true;
    if (st->busy) {
      st->busy = false;
      auto& w = st->sent.get_as<wire_job>(0);
      if (st->pending.img && !w.image.empty()) {
        try {
          st->pending.img->pixels = from_wire(w.image);
        } catch (const std::exception& e) {
          fail(st->pending, failure_text(e));
        }
      }
      st->sent = caf::message{};
      if (metrics) {
        metrics->busy_workers.fetch_sub(1, relaxed);
        metrics->images_lost.fetch_add(1, relaxed);
      }
      self->send(dispatcher, lost_atom::value, index, reason,
                 std::move(st->pending));
    } else {
      self->send(dispatcher, lost_atom::value, index, reason);
    }
    self->send_exit(link, caf::exit_reason::user_shutdown);
  };
  auto finish = [=](job& j) {
    finish_job(self, j, downstream, dispatcher, index, metrics, st->started);
  };
  return {
    [=](lost_atom, std::string& why) { lose(why); },
    // The stage sends nothing more: a normal exit, which does not take the
    // stage (linked) down.
    [=](retire_atom) { self->quit(); },
    [=](job& j) {
      if (st->dead) {
        // Sent before the stage knew: back it goes, untouched.
        self->send(dispatcher, lost_atom::value, index, st->reason,
                   std::move(j));
        return;
      }
      st->started = start_job(metrics);
      wire_job message;
      try {
        message = half.send(j, encoding);
      } catch (const std::exception& e) {
        fail(j, failure_text(e));
        finish(j);
        return;
      }
      st->pending = std::move(j);
      st->busy = true;
      st->sent = caf::make_message(std::move(message));
      // No timeout here (the courier has it): see courier(). The message
      // the proxy keeps goes as it is, without a copy of its pixels, which
      // CAF 0.17 sends only through an untyped handle (a typed request
      // takes values); courier_actor says what the courier answers.
      self->request(caf::actor_cast<caf::actor>(link), caf::infinite,
                    st->sent)
        .then(
          [=](wire_result& r) {
            if (st->dead)
              return;
            st->busy = false;
            st->sent = caf::message{};
            job done = std::move(st->pending);
            if (!r.error.empty()) {
              fail(done, std::move(r.error));
              if (r.stage >= 0 && std::size_t(r.stage) < half.stages.size())
                done.failed_stage = half.stages[std::size_t(r.stage)];
            } else {
              try {
                half.receive(done, r);
              } catch (const std::exception& e) {
                fail(done, failure_text(e));
              }
            }
            finish(done);
          },
          [=](caf::error& e) {
            lose(e == caf::sec::request_timeout
                   ? fmt::format("nothing from the node for its timeout ({} s)",
                                 std::chrono::duration_cast<std::chrono::seconds>(
                                   timeout)
                                   .count())
                   : self->system().render(e));
          });
    },
  };
}

namespace {

struct keeper_state {
  node_actor node;
};

std::string unresolved(const std::string& host, int rc) {
  return fmt::format("cannot resolve the host name \"{}\": {}", host,
                     ::gai_strerror(rc));
}

/// Opens a TCP connection to `host:port` (and closes it again) within
/// `limit`: whether the node can be reached at all, said in plain words
/// (empty when it can). CAF's own connect blocks in the operating system's
/// connect(), about two minutes for a host that drops packets, so it is
/// only asked once this succeeded.
std::string probe(const std::string& host, int port,
                  std::chrono::seconds limit, int* keep = nullptr) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  auto service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
      rc != 0)
    return unresolved(host, rc);
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard{found,
                                                             ::freeaddrinfo};
  auto deadline = std::chrono::steady_clock::now() + limit;
  std::string why = "no address";
  for (auto* a = found; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                      a->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    int err = 0;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
        pollfd p{fd, POLLOUT, 0};
        int ready = left.count() > 0 ? ::poll(&p, 1, int(left.count())) : 0;
        if (ready <= 0) {
          err = ETIMEDOUT;
        } else {
          socklen_t len = sizeof err;
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        }
      }
    }
    if (err == 0 && keep != nullptr) {
      *keep = fd;
      return {};
    }
    ::close(fd);
    if (err == 0)
      return {};
    if (err == ETIMEDOUT)
      why = fmt::format("no answer within {} s (the host is down or "
                        "unreachable, or a firewall drops the packets)",
                        limit.count());
    else if (err == ECONNREFUSED)
      why = "connection refused (no pixline node listens on that port)";
    else if (err == EHOSTUNREACH || err == ENETUNREACH)
      why = fmt::format("{} (no route to the node)", std::strerror(err));
    else
      why = std::strerror(err);
    if (std::chrono::steady_clock::now() >= deadline)
      break;
  }
  return why;
}

/// The first of OpenSSL's queued errors as text, or `otherwise`.
std::string openssl_error(const char* otherwise) {
  auto code = ERR_get_error();
  ERR_clear_error();
  if (code == 0)
    return otherwise;
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  // "error:0A000418:SSL routines::tlsv1 alert unknown ca" -> the reason.
  std::string_view all{text};
  auto colon = all.rfind(':');
  return std::string{colon == std::string_view::npos ? all
                                                     : all.substr(colon + 1)};
}

/// After CAF's TLS handshake with a node failed (CAF says only
/// "disconnect during handshake"): one handshake of our own with the same
/// certificates, to say which side refused which certificate. Empty when
/// it cannot tell.
std::string diagnose_tls(caf::actor_system& sys, const std::string& host,
                         int port, std::chrono::seconds limit) {
  auto& cfg = sys.config();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{
    SSL_CTX_new(TLS_client_method()), SSL_CTX_free};
  if (!ctx)
    return {};
  if (SSL_CTX_use_certificate_chain_file(ctx.get(),
                                         cfg.openssl_certificate.c_str())
        != 1
      || SSL_CTX_use_PrivateKey_file(ctx.get(), cfg.openssl_key.c_str(),
                                     SSL_FILETYPE_PEM)
           != 1
      || SSL_CTX_load_verify_locations(ctx.get(), cfg.openssl_cafile.c_str(),
                                       nullptr)
           != 1)
    return fmt::format("this coordinator's [tls] files cannot be used ({})",
                       openssl_error("unknown error"));
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  int fd = -1;
  if (!probe(host, port, limit, &fd).empty())
    return {};
  // Blocking from here, but never longer than `limit` per read or write.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  timeval tv{long(limit.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl{SSL_new(ctx.get()), SSL_free};
  std::string why;
  if (ssl && SSL_set_fd(ssl.get(), fd) == 1) {
    ERR_clear_error();
    if (SSL_connect(ssl.get()) != 1) {
      auto verified = SSL_get_verify_result(ssl.get());
      if (verified != X509_V_OK)
        why = fmt::format("this coordinator does not trust the node's "
                          "certificate ({}): [tls] ca must be the CA that "
                          "signed it",
                          X509_verify_cert_error_string(verified));
      else
        why = fmt::format("the node broke off the TLS handshake ({}): does "
                          "it use TLS?",
                          openssl_error("connection closed"));
    } else {
      // With TLS 1.3 the node checks this coordinator's certificate after
      // the client's side of the handshake is done: its verdict is the
      // first thing to read (CAF's greeting, or an alert).
      char byte = 0;
      if (SSL_read(ssl.get(), &byte, 1) <= 0)
        why = fmt::format("the node does not trust this coordinator's "
                          "certificate (it answered: {}): its --tls-ca must "
                          "be the CA that signed [tls] certificate",
                          openssl_error("connection closed"));
    }
  }
  ::close(fd);
  return why;
}

/// CAF's reasons for a failed connection, in plain words.
std::string explain_connect_error(caf::actor_system& sys,
                                  const node_section& n,
                                  const caf::error& e) {
  if (e == caf::sec::request_timeout)
    return fmt::format("the node accepted the connection but did not "
                       "complete the handshake within {} s{}",
                       n.connect_timeout,
                       n.tls ? " (is it a pixline node with TLS?)"
                             : " (is it a pixline node? one with TLS needs "
                               "tls = true)");
  bool handshake = e == caf::sec::disconnect_during_handshake
                   || e == caf::sec::cannot_connect_to_node;
  if (handshake && n.tls) {
    auto address = std::get<listen_address>(parse_listen_address(n.address));
    auto why = diagnose_tls(sys, address.host, address.port,
                            std::chrono::seconds(n.connect_timeout));
    if (!why.empty())
      return "TLS handshake failed: " + why;
  }
  if (e == caf::sec::disconnect_during_handshake)
    return n.tls ? "TLS handshake failed: the node does not trust this "
                   "coordinator's certificate or this coordinator does not "
                   "trust the node's (both must be signed by the CA that is "
                   "[tls] ca here and --tls-ca on the node), or the node "
                   "does not use TLS"
                 : "the node closed the connection during the handshake: it "
                   "probably requires TLS (set tls = true and [tls])";
  if (e == caf::sec::no_actor_published_at_port)
    return "no pixline node at that port";
  if (e == caf::sec::cannot_connect_to_node)
    return "the connection broke off during the handshake";
  return sys.render(e);
}

/// The node's actor, over TLS when the node asks for it, or why not within
/// the node's connect_timeout.
std::variant<node_actor, std::string> reach(caf::actor_system& sys,
                                            const node_section& n) {
  auto address = std::get<listen_address>(parse_listen_address(n.address));
  auto limit = std::chrono::seconds(n.connect_timeout);
  if (auto why = probe(address.host, address.port, limit); !why.empty())
    return "cannot connect: " + why;
  // What caf::io::middleman::remote_actor does, with a timeout instead of
  // a wait without end for the handshake.
  auto mm = n.tls ? sys.openssl_manager().actor_handle()
                  : sys.middleman().actor_handle();
  std::variant<node_actor, std::string> result;
  caf::scoped_actor ask{sys};
  ask->request(mm, limit, caf::connect_atom::value, address.host,
               std::uint16_t(address.port))
    .receive(
      [&](caf::node_id&, caf::strong_actor_ptr& ptr,
          std::set<std::string>& interface) {
        if (!ptr)
          result = std::string{"cannot connect: no pixline node at that "
                               "port"};
        else if (!sys.assignable<node_actor>(interface))
          result = std::string{"cannot connect: the actor at that port is "
                               "not a pixline node of this version (its "
                               "messages differ)"};
        else
          result = caf::actor_cast<node_actor>(std::move(ptr));
      },
      [&](caf::error& e) {
        result = "cannot connect: " + explain_connect_error(sys, n, e);
      });
  return result;
}

} // namespace

std::string resolve_problem(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0)
    return unresolved(host, rc);
  ::freeaddrinfo(found);
  return {};
}

node_keeper_actor::behavior_type
node_keeper(node_keeper_actor::pointer self, node_section n,
            std::vector<keeper_stage> stages, caf::timespan retry) {
  auto st = std::make_shared<keeper_state>();
  // What the node watches to know this coordinator is alive: a scheduled
  // actor that lives as long as the keeper. Not the keeper itself: the
  // keeper is detached, the actor system waits at exit until every detached
  // actor is released, and references to an actor the network knows of are
  // not ours to release.
  auto me = self->spawn<caf::linked>([]() -> caf::behavior {
    return {[](retry_atom) {}};
  });
  // Connects and starts the workers; returns the reason when it cannot.
  auto attach = [=]() -> std::string {
    auto& sys = self->system();
    auto reached = reach(sys, n);
    if (auto why = std::get_if<std::string>(&reached))
      return *why;
    auto node = &std::get<node_actor>(reached);
    std::vector<std::vector<node_worker_actor>> started;
    std::string failure;
    caf::scoped_actor ask{sys};
    for (auto& s : stages) {
      ask->request(*node, std::chrono::seconds(2 * n.connect_timeout),
                   setup_atom::value,
                   s.recipe, std::uint32_t(s.workers), me)
        .receive(
          [&](std::vector<node_worker_actor>& workers) {
            started.push_back(std::move(workers));
          },
          [&](caf::error& e) { failure = sys.render(e); });
      if (!failure.empty())
        return fmt::format("refused the pipeline: {}", failure);
    }
    st->node = *node;
    self->monitor(*node);
    for (size_t i = 0; i < stages.size(); ++i)
      self->send(stages[i].dispatcher, join_atom::value, started[i], n.name,
                 caf::timespan{std::chrono::seconds(n.timeout)},
                 n.wire == "raw" ? std::string{} : n.wire);
    return {};
  };
  self->set_down_handler([=](caf::down_msg& m) {
    if (!st->node || m.source != st->node.address())
      return;
    st->node = nullptr;
    spdlog::warn("node {} ({}) lost: {}; its images go to other workers; "
                 "reconnecting every {} s",
                 n.name, n.address, loss_reason(self->system(), m.reason),
                 std::chrono::duration_cast<std::chrono::seconds>(retry).count());
    self->delayed_send(self, retry, retry_atom::value);
  });
  return {
    [=](connect_atom) -> std::string {
      auto failure = attach();
      if (!failure.empty())
        return fmt::format("node {} ({}): {}", n.name, n.address, failure);
      spdlog::info("node {} ({}) connected", n.name, n.address);
      return {};
    },
    [=](retry_atom) {
      auto failure = attach();
      if (failure.empty()) {
        spdlog::info("node {} ({}) is back", n.name, n.address);
        return;
      }
      spdlog::debug("node {} ({}): {}", n.name, n.address, failure);
      self->delayed_send(self, retry, retry_atom::value);
    },
  };
}

} // namespace pixline
