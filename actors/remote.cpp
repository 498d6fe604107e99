#include "actors/remote.hpp"

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>

#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "actors/messages.hpp"
#include "pipeline/registry.hpp"

namespace pixline {

namespace {

using namespace std::chrono_literals;

// -- the node -------------------------------------------------------------------

/// One worker on a node: a job in, its result out.
caf::behavior node_worker(caf::event_based_actor*, node_work_fn fn) {
  return {
    [fn](wire_job& in) -> wire_result { return fn(in); },
  };
}

struct node_state {
  static inline const char* name = "pixline.node";
  /// Workers by the coordinator actor (a node keeper) that asked for them.
  std::map<caf::actor_addr, std::vector<caf::actor>> workers;
};

caf::behavior node_actor(caf::stateful_actor<node_state>* self,
                         const stage_registry* registry) {
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
        caf::actor owner) -> caf::result<std::vector<caf::actor>> {
      std::function<node_work_fn()> make;
      try {
        make = node_worker_factory(recipe, *registry);
      } catch (const std::exception& e) {
        spdlog::warn("refused a stage: {}", e.what());
        return caf::make_error(caf::sec::runtime_error, std::string{e.what()});
      }
      std::vector<caf::actor> result;
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
                       const std::string& ca) {
  cfg.load<caf::io::middleman>();
  // Without heartbeats a peer whose host vanished (no FIN, no RST) would
  // look connected forever.
  cfg.set("middleman.heartbeat-interval", caf::timespan{500ms});
  cfg.set("middleman.connection-timeout", caf::timespan{5s});
  if (tls) {
    cfg.load<caf::openssl::manager>();
    cfg.openssl_certificate = certificate;
    cfg.openssl_key = key;
    cfg.openssl_cafile = ca;
  }
}

void run_node(const node_options& options, const stage_registry& registry) {
  bool tls = !options.tls_certificate.empty();
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::pixline>();
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("scheduler.max-threads", size_t{2});
  configure_network(cfg, tls, options.tls_certificate, options.tls_key,
                    options.tls_ca);
  caf::actor_system sys{cfg};
  auto node = sys.spawn(node_actor, &registry);
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
  bool dead = false;
  job pending;
  /// The message sent for `pending`, kept until the answer: if the node is
  /// lost, the job's image is taken from it, because the job's own lazy
  /// image was already read once to make the message (a file opened for
  /// sequential reading cannot be read again).
  caf::message sent;
  std::chrono::steady_clock::time_point started;
};

/// Carries one remote worker's requests for its proxy. A scheduled actor,
/// not a detached one: CAF 0.17's clock keeps a strong reference to an
/// actor until each of its request timeouts fires (even after the answer
/// came), and the actor system waits at exit until every detached actor is
/// released, so a detached proxy with a 300 s timeout pending would hold up
/// the end of the run by up to 300 s.
caf::behavior courier(caf::event_based_actor* self, caf::actor remote,
                      caf::actor proxy, caf::timespan timeout) {
  self->monitor(remote);
  self->set_down_handler([=](caf::down_msg& m) {
    if (m.source == remote.address())
      self->send(proxy, lost_atom::value,
                 fmt::format("connection lost ({})",
                             self->system().render(m.reason)));
  });
  return {
    [=](wire_job& job) -> caf::result<wire_result> {
      auto rp = self->make_response_promise<wire_result>();
      self->request(remote, timeout, std::move(job))
        .then([rp](wire_result& r) mutable { rp.deliver(std::move(r)); },
              [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
      return rp;
    },
  };
}

} // namespace

caf::behavior remote_proxy(caf::event_based_actor* self, std::string stage,
                           std::string node, caf::actor remote,
                           std::uint32_t index, caf::actor dispatcher,
                           caf::actor downstream, remote_half half,
                           caf::timespan timeout, std::string encoding,
                           stage_metrics* metrics) {
  auto st = std::make_shared<proxy_state>();
  constexpr auto relaxed = std::memory_order_relaxed;
  auto fail = [=](job& j, std::string reason) {
    j.error = reason.empty() ? "unknown error" : std::move(reason);
    j.failed_stage = stage;
    j.img.reset();
  };
  // Linked, so it ends when the stage ends the proxy; a proxy that retires
  // ends it explicitly.
  auto link = self->spawn<caf::linked>(courier, remote,
                                       caf::actor_cast<caf::actor>(self),
                                       timeout);
  // Gives the stage back this worker's job (if any) and retires the worker.
  auto lose = [=](const std::string& why) {
    if (st->dead)
      return;
    auto reason = fmt::format("node {}: {}", node, why);
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
    // A normal exit, which does not take the stage (linked) down; the
    // courier goes explicitly.
    self->send_exit(link, caf::exit_reason::user_shutdown);
    self->quit();
  };
  // Passes a job on and tells the stage this worker is free.
  auto finish = [=](job& j) {
    if (metrics) {
      auto took = std::chrono::steady_clock::now() - st->started;
      metrics->busy_ns.fetch_add(
        std::uint64_t(
          std::chrono::duration_cast<std::chrono::nanoseconds>(took).count()),
        relaxed);
      (j.failed() ? metrics->images_failed : metrics->images_out)
        .fetch_add(1, relaxed);
      metrics->busy_workers.fetch_sub(1, relaxed);
    }
    self->send(downstream, std::move(j));
    self->send(dispatcher, demand_atom::value, index);
  };
  return {
    [=](lost_atom, std::string& why) { lose(why); },
    [=](job& j) {
      if (metrics) {
        metrics->busy_workers.fetch_add(1, relaxed);
        metrics->images_in.fetch_add(1, relaxed);
      }
      st->started = std::chrono::steady_clock::now();
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
      // No timeout here (the courier has it): see courier().
      self->request(link, caf::infinite, st->sent)
        .then(
          [=](wire_result& r) {
            if (st->dead)
              return;
            st->busy = false;
            st->sent = caf::message{};
            job done = std::move(st->pending);
            if (!r.error.empty()) {
              fail(done, std::move(r.error));
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
                   ? fmt::format("no answer within the node's timeout ({} s)",
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
  caf::actor node;
};

/// The node's actor, over TLS when the node asks for it.
caf::expected<caf::actor> reach(caf::actor_system& sys,
                                const node_section& n) {
  auto parsed = parse_listen_address(n.address);
  auto address = std::get<listen_address>(parsed);
  if (n.tls)
    return caf::openssl::remote_actor(sys, address.host,
                                      std::uint16_t(address.port));
  return sys.middleman().remote_actor(address.host,
                                      std::uint16_t(address.port));
}

} // namespace

caf::behavior node_keeper(caf::event_based_actor* self, node_section n,
                          std::vector<keeper_stage> stages,
                          caf::timespan retry) {
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
    auto node = reach(sys, n);
    if (!node)
      return fmt::format("cannot connect: {}", sys.render(node.error()));
    std::vector<std::vector<caf::actor>> started;
    std::string failure;
    caf::scoped_actor ask{sys};
    for (auto& s : stages) {
      ask->request(*node, std::chrono::seconds(30), setup_atom::value,
                   s.recipe, std::uint32_t(s.workers), me)
        .receive(
          [&](std::vector<caf::actor>& workers) {
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
                 n.name, n.address, self->system().render(m.reason),
                 std::chrono::duration_cast<std::chrono::seconds>(retry).count());
    self->delayed_send(self, retry, retry_atom::value);
  });
  return {
    [=](connect_atom) -> caf::result<bool> {
      auto failure = attach();
      if (!failure.empty())
        return caf::make_error(caf::sec::runtime_error,
                               fmt::format("node {} ({}): {}", n.name,
                                           n.address, failure));
      spdlog::info("node {} ({}) connected", n.name, n.address);
      return true;
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
