#include "actors/flow/credit.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <stdexcept>
#include <memory>
#include <system_error>

#include <sys/eventfd.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <vips/vips8>

#include "actors/flow/finish.hpp"
#include "actors/flow/protocol.hpp"
#include "actors/net/remote.hpp"
#include "pipeline/memory.hpp"

namespace pixline {

namespace {

// -- workers ------------------------------------------------------------------

/// Runs `fn` on `j`; any exception becomes the job's failure, naming `stage`.
void run_guarded(const std::string& stage, const work_fn& fn, job& j) {
  try {
    fn(j);
  } catch (const std::exception& e) {
    fail_job(j, stage, failure_text(e));
  } catch (...) {
    fail_job(j, stage, "unknown error");
  }
}

} // namespace

job_signal::job_signal()
  : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (fd_ < 0)
    throw std::system_error(errno, std::generic_category(), "eventfd");
}

job_signal::~job_signal() {
  ::close(fd_);
}

void job_signal::announce() {
  std::uint64_t one = 1;
  // Only fails when the counter would overflow, which it cannot.
  while (::write(fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

bool job_signal::waiting() {
  std::uint64_t n = 0;
  if (::read(fd_, &n, sizeof n) == sizeof n)
    announced_ += n;
  return announced_ > taken_;
}

namespace {

/// A worker does one job at a time: works on it, hands it to the next stage,
/// then tells its dispatcher it is free again.
worker_actor::behavior_type
worker(worker_actor::pointer self, std::string stage,
       std::shared_ptr<work_fn> fn, uint32_t index, dispatcher_actor dispatcher,
       job_sink_actor downstream, stage_metrics* metrics) {
  return {
    [=](job& j) {
      auto started = start_job(metrics);
      run_guarded(stage, *fn, j);
      finish_job(self, j, downstream, dispatcher, index, metrics, started);
      release_idle_memory();
    },
  };
}

struct queued_worker_state {
  static inline const char* name = "pixline.queued-worker";

  /// The jobs it holds, oldest (the one worked on) first.
  std::deque<job> held;
  /// When the oldest started.
  std::chrono::steady_clock::time_point started;
};

/// A queued_work worker: starts each job it is given at once, after the
/// ones before it, and waits for the oldest until another job reaches it.
/// So the next job is in the worker's hands before it finishes one.
worker_actor::behavior_type
queued_worker(worker_actor::stateful_pointer<queued_worker_state> self,
              std::string stage, std::shared_ptr<queued_work> work,
              std::shared_ptr<job_signal> signal, uint32_t index,
              dispatcher_actor dispatcher, job_sink_actor downstream,
              stage_metrics* metrics) {
  return {
    [=](job& j) {
      auto& st = self->state;
      signal->taken();
      st.held.push_back(std::move(j));
      if (st.held.size() == 1)
        st.started = start_job(metrics);
      work->start(st.held.back());
      while (!st.held.empty()) {
        auto& oldest = st.held.front();
        try {
          if (!work->finish(oldest, *signal))
            return; // the next job first
        } catch (const std::exception& e) {
          fail_job(oldest, stage, failure_text(e));
        } catch (...) {
          fail_job(oldest, stage, "unknown error");
        }
        finish_job(self, oldest, downstream, dispatcher, index, metrics,
                   st.started);
        st.held.pop_front();
        if (!st.held.empty())
          st.started = start_job(metrics);
        release_idle_memory();
      }
    },
  };
}

// -- stages -------------------------------------------------------------------

struct stage_state {
  static inline const char* name = "pixline.stage";

  std::string stage;
  credit_sink_actor upstream;
  job_sink_actor downstream;
  /// Local workers first, then remote workers' proxies.
  std::vector<worker_actor> workers;
  /// Each local worker's signal, when they are queued workers (empty if
  /// not).
  std::vector<std::shared_ptr<job_signal>> signals;
  /// The proxies again, by index - local, for retire_atom.
  std::vector<remote_worker_actor> proxies;
  /// The tickets of the jobs each worker has, in the order it works on
  /// them: what the stage holds for the run's accounting check. A worker
  /// has 0 or 1 jobs, and 2 for a local worker given its next job while it
  /// works (see next_worker).
  std::vector<std::deque<std::uint64_t>> held;
  /// When each worker started the job it works on, while it holds one.
  std::vector<std::chrono::steady_clock::time_point> started;
  /// How long a job takes a worker of this stage, in milliseconds,
  /// smoothed over the last ones; negative until one finished.
  double job_ms = -1;
  /// Workers whose node was lost: never chosen again.
  std::vector<bool> gone;
  /// Local workers: the first `local` of `workers`.
  size_t local = 0;
  /// Jobs lost on nodes, by ticket: how often, and the last reason.
  std::map<std::uint64_t, std::pair<int, std::string>> node_losses;
  /// Workers that can take jobs (not lost with their node).
  int live = 0;
  /// Makes the coordinator's half of a remote worker.
  std::function<remote_half()> make_remote_half;
  std::deque<job> queue;
  int budget = 1;
  int busy = 0;
  int requested = 0;
  int downstream_credit = 0;
  stage_metrics* metrics = nullptr;
};

/// Copies the stage's queue and granted credit to its gauges.
void publish(const stage_state& st) {
  if (!st.metrics)
    return;
  constexpr auto relaxed = std::memory_order_relaxed;
  st.metrics->queued.store(std::int64_t(st.queue.size()), relaxed);
  st.metrics->credit_outstanding.store(st.requested, relaxed);
}

/// Times a job may be lost on nodes before only local workers may have it
/// (or, without any, it fails): an image a node can never finish (one that
/// takes longer to send than the node's connection timeout, say) is not
/// sent again for ever.
constexpr int max_node_losses = 3;

/// Jobs shorter than this (on average, in this stage) are handed to a busy
/// worker ahead of time (next_worker), and credit for them is asked for a
/// job at a time (credit_to_request).
constexpr double short_job_ms = 10;

/// Asks upstream for more jobs (credit_to_request).
void request_more(stage_actor::stateful_pointer<stage_state> self) {
  auto& st = self->state;
  if (!st.upstream)
    return;
  int held = int(st.queue.size()) + st.busy + st.requested;
  if (int room = credit_to_request(st.budget, held, st.job_ms); room > 0) {
    st.requested += room;
    self->send(st.upstream, credit_atom::value, uint32_t(room));
  }
}

/// The same for a queued worker (a worker process), which starts the job
/// handed ahead by itself: a job longer than this could wait behind
/// another one while a worker idles, at the end of a run, longer than the
/// hand-ahead saves.
constexpr double short_queued_job_ms = 50;

/// The worker to give the queue's front job to, among the first `end`:
/// an idle one; else, when this stage's jobs are short and more of them
/// wait than there are local workers, a busy local worker with nothing
/// after its current job. That worker starts the job as soon as it
/// finishes its own, instead of telling this actor it is free and waiting
/// for the next job: a round trip through two more threads, a noticeable
/// part of a small image's few milliseconds (bench/HISTORY.md). Long jobs,
/// and the end of the queue, go to idle workers only, so that no job waits
/// long behind another while a worker has nothing to do. A queued worker
/// (a worker process's) takes one ahead whenever jobs are short, however
/// many wait. `end` when none.
size_t next_worker(const stage_state& st, size_t end) {
  size_t best = end;
  // A queued worker starts a job handed ahead itself, without a round
  // trip through this actor: worth it for longer jobs, and whether or not
  // more wait than there are workers.
  bool backlog = st.signals.empty()
                   ? st.job_ms >= 0 && st.job_ms < short_job_ms
                       && st.queue.size() > st.local
                   : st.job_ms >= 0 && st.job_ms < short_queued_job_ms;
  for (size_t i = 0; i < end; ++i) {
    if (st.gone[i])
      continue;
    size_t depth = i < st.local && backlog ? 2 : 1;
    if (st.held[i].size() < depth
        && (best == end || st.held[i].size() < st.held[best].size()))
      best = i;
  }
  return best;
}

/// Hands queued jobs to idle workers while the next stage has credit.
void dispatch(stage_actor::stateful_pointer<stage_state> self) {
  auto& st = self->state;
  while (!st.queue.empty() && st.downstream_credit > 0) {
    auto& front = st.queue.front();
    auto losses = st.node_losses.find(front.ticket);
    bool local_only = losses != st.node_losses.end()
                      && losses->second.first >= max_node_losses;
    if (local_only && st.local == 0 && !front.failed()) {
      front.error = fmt::format("lost on nodes {} times (the last time: {}); "
                                "not sent again",
                                losses->second.first, losses->second.second);
      front.failed_stage = st.stage;
      front.img.reset();
    }
    if (front.failed()) {
      // Nothing to do for it here; pass it on so the accounting stays exact.
      if (losses != st.node_losses.end())
        st.node_losses.erase(losses);
      self->send(st.downstream, std::move(front));
    } else {
      size_t end = local_only ? st.local : st.held.size();
      size_t i = next_worker(st, end);
      if (i == end)
        break;
      if (st.held[i].empty())
        st.started[i] = std::chrono::steady_clock::now();
      st.held[i].push_back(front.ticket);
      self->send(st.workers[i], std::move(front));
      if (i < st.signals.size())
        st.signals[i]->announce();
      ++st.busy;
    }
    st.queue.pop_front();
    --st.downstream_credit;
  }
  request_more(self);
  publish(st);
}

/// Keeps the workers gauge in step with the live workers.
void count_workers(const stage_state& st) {
  if (st.metrics)
    st.metrics->workers.store(st.live, std::memory_order_relaxed);
}

/// Stops choosing remote worker `index`, whose node was lost, and tells its
/// proxy to stop once every job already sent to it has come back.
void retire(stage_actor::stateful_pointer<stage_state> self, uint32_t index) {
  auto& s = self->state;
  if (s.gone[index])
    return;
  s.gone[index] = true;
  --s.live;
  if (index >= s.local)
    self->send(s.proxies[index - s.local], retire_atom::value);
  count_workers(s);
  if (s.live == 0)
    spdlog::warn("{}: no worker left; its images wait for a node to come "
                 "back",
                 s.stage);
}

stage_actor::behavior_type
dispatcher(stage_actor::stateful_pointer<stage_state> self, stage_runtime rt,
           job_sink_actor downstream, bool detached, stage_metrics* metrics) {
  auto& st = self->state;
  st.stage = rt.name;
  st.downstream = downstream;
  st.budget = std::max(1, rt.max_in_flight);
  st.metrics = metrics;
  st.make_remote_half = rt.make_remote_half;
  stage_actor me{self};
  // A stage placed on nodes may have no local worker at all.
  int local = rt.remote.empty() ? std::max(1, rt.workers) : rt.workers;
  for (int i = 0; i < local; ++i) {
    auto idx = uint32_t(i);
    worker_actor w;
    if (rt.make_queued_worker) {
      auto work = rt.make_queued_worker({});
      auto signal = std::make_shared<job_signal>();
      w = detached ? self->spawn<caf::detached + caf::linked>(
            queued_worker, rt.name, work, signal, idx, me, downstream,
            metrics)
                   : self->spawn<caf::linked>(queued_worker, rt.name, work,
                                              signal, idx, me, downstream,
                                              metrics);
      st.signals.push_back(std::move(signal));
    } else {
      auto fn = std::make_shared<work_fn>(rt.make_worker());
      w = detached ? self->spawn<caf::detached + caf::linked>(
            worker, rt.name, fn, idx, me, downstream, metrics)
                   : self->spawn<caf::linked>(worker, rt.name, fn, idx, me,
                                              downstream, metrics);
    }
    st.workers.push_back(w);
    st.held.emplace_back();
    st.started.emplace_back();
    st.gone.push_back(false);
  }
  st.live = local;
  st.local = size_t(local);
  count_workers(st);
  // A remote worker's proxy stops after giving back every job it was sent
  // (see retire()). One that stopped holding a job lost it: the record goes,
  // so the run's accounting check fails the run instead of waiting.
  self->set_down_handler([=](caf::down_msg& m) {
    auto& s = self->state;
    for (size_t i = 0; i < s.workers.size(); ++i) {
      if (s.workers[i].address() != m.source)
        continue;
      if (!s.held[i].empty()) {
        spdlog::error("{}: a remote worker stopped ({}) without giving back "
                      "its job",
                      s.stage, self->system().render(m.reason));
        s.busy -= int(s.held[i].size());
        s.held[i].clear();
      }
      if (!s.gone[i]) {
        s.gone[i] = true;
        --s.live;
        count_workers(s);
      }
    }
  });
  return {
    [=](connect_atom, credit_sink_actor up) {
      self->state.upstream = std::move(up);
      request_more(self);
      publish(self->state);
    },
    [=](credit_atom, uint32_t n) {
      self->state.downstream_credit += int(n);
      dispatch(self);
    },
    [=](demand_atom, uint32_t index) {
      auto& s = self->state;
      if (index < s.held.size() && !s.held[index].empty()) {
        --s.busy;
        s.node_losses.erase(s.held[index].front());
        s.held[index].pop_front();
        auto now = std::chrono::steady_clock::now();
        double ms = std::chrono::duration<double, std::milli>(
                      now - s.started[index])
                      .count();
        s.job_ms = s.job_ms < 0 ? ms : 0.8 * s.job_ms + 0.2 * ms;
        // The next job it holds starts now.
        s.started[index] = now;
      }
      dispatch(self);
    },
    [=](job& j) {
      auto& s = self->state;
      s.queue.push_back(std::move(j));
      if (s.requested > 0)
        --s.requested;
      dispatch(self);
    },
    // Workers on a node that (re)connected: each gets a local proxy.
    [=](join_atom, std::vector<node_worker_actor>& remote, std::string& node,
        caf::timespan timeout, std::string& encoding) {
      auto& s = self->state;
      for (auto& r : remote) {
        auto idx = uint32_t(s.workers.size());
        // Linked (one ends the other abnormally) and monitored: a proxy that
        // stops normally holding a job would otherwise leave it held here
        // for ever.
        auto proxy = self->spawn<caf::detached + caf::linked
                                 + caf::monitored>(
          remote_proxy, s.stage, node, r, idx, me, s.downstream,
          s.make_remote_half(), timeout, encoding, s.metrics);
        s.workers.push_back(proxy);
        s.proxies.push_back(proxy);
        s.held.emplace_back();
        s.started.emplace_back();
        s.gone.push_back(false);
        ++s.live;
      }
      count_workers(s);
      dispatch(self);
    },
    // A remote worker whose node went away while idle. Jobs the stage sent
    // it meanwhile come back (below) before it stops.
    [=](lost_atom, uint32_t index, std::string&) {
      if (index < self->state.workers.size())
        retire(self, index);
    },
    // ... or while it had a job, or a job reached it after the loss: the
    // job goes to another worker, first.
    [=](lost_atom, uint32_t index, std::string& reason, job& j) {
      auto& s = self->state;
      if (index >= s.workers.size())
        return;
      spdlog::warn("{}: {}: lost on a node ({}); sending it to another "
                   "worker",
                   s.stage, j.relative.empty() ? j.path : j.relative, reason);
      // A job that reached a proxy after its loss never went out: that is
      // no loss of the job's own.
      if (!s.gone[index]) {
        auto& losses = s.node_losses[j.ticket];
        ++losses.first;
        losses.second = reason;
      }
      auto& held = s.held[index];
      if (auto t = std::find(held.begin(), held.end(), j.ticket);
          t != held.end()) {
        held.erase(t);
        --s.busy;
      }
      ++s.downstream_credit;
      s.queue.push_front(std::move(j));
      retire(self, index);
      dispatch(self);
    },
    [=](audit_atom, std::uint64_t round)
      -> std::tuple<audit_atom, std::uint64_t, std::vector<std::uint64_t>> {
      auto& s = self->state;
      std::vector<std::uint64_t> tickets;
      for (auto& j : s.queue)
        tickets.push_back(j.ticket);
      for (auto& held : s.held)
        tickets.insert(tickets.end(), held.begin(), held.end());
      return {audit_atom::value, round, std::move(tickets)};
    },
  };
}

// -- the controller: source and sink of every job ------------------------------

struct controller_state {
  static inline const char* name = "pixline.controller";

  job_feed* feed = nullptr;
  bool keep_finished = true;
  /// The stages in order: jobs go to the first, credit to the last.
  std::vector<stage_actor> stages;
  int credit = 0;
  int in_flight = 0;
  int max_in_flight = 1;
  /// Jobs admitted so far; an idle check carries it to see whether any
  /// came since.
  std::uint64_t admissions = 0;
  std::shared_ptr<flow_report> report;
  std::function<void(const job&)> on_finished;
  std::shared_ptr<metrics_registry> metrics;
  caf::typed_response_promise<std::string> waiter;
  bool waiting = false;
  bool finished = false;
  /// Why the run stopped before its jobs were done; empty while fine.
  std::string failure;
  /// The run's accounting: every admitted job not yet finished, by ticket,
  /// with how many audits in a row found no stage holding it.
  struct admitted_job {
    std::string name;
    int misses = 0;
  };
  std::map<std::uint64_t, admitted_job> admitted;
  std::uint64_t next_ticket = 0;
  /// The audit under way: its number, the stages yet to answer and the
  /// tickets the others hold.
  std::uint64_t audit_round = 0;
  size_t audit_waiting = 0;
  std::set<std::uint64_t> audit_seen;
};

/// Ends the run: stops the stages and answers the waiter (with `failure`,
/// empty when every job finished).
void end_run(controller_actor::stateful_pointer<controller_state> self) {
  auto& st = self->state;
  st.finished = true;
  for (auto& s : st.stages)
    self->send_exit(s, caf::exit_reason::user_shutdown);
  st.waiter.deliver(st.failure);
  self->quit();
}

void finish_if_done(controller_actor::stateful_pointer<controller_state> self) {
  auto& st = self->state;
  if (st.finished || !st.waiting)
    return;
  if (st.failure.empty() && (st.in_flight > 0 || !st.feed->closed()))
    return;
  end_run(self);
}

/// Stops the run with an error instead of waiting for jobs that cannot
/// come.
void fail_run(controller_actor::stateful_pointer<controller_state> self, std::string why) {
  auto& st = self->state;
  if (st.finished || !st.failure.empty())
    return;
  spdlog::error("{}", why);
  st.failure = std::move(why);
  finish_if_done(self);
}

/// Audits in a row that must miss a job before the run fails: a job in
/// transit between two stages can be missed by one audit (the stages answer
/// at different moments), never by several a second apart.
constexpr int audit_misses = 3;
constexpr std::chrono::milliseconds audit_every{1000};

/// Compares the tickets the stages hold with the admitted jobs.
void check_audit(controller_actor::stateful_pointer<controller_state> self) {
  auto& st = self->state;
  for (auto& [ticket, a] : st.admitted) {
    if (st.audit_seen.count(ticket) > 0) {
      a.misses = 0;
      continue;
    }
    if (++a.misses >= audit_misses) {
      fail_run(self,
               fmt::format("{} was admitted but no stage holds it any more "
                           "and it never finished (lost inside the "
                           "pipeline); stopping the run instead of waiting "
                           "for it for ever",
                           a.name));
      return;
    }
  }
}

/// Lets jobs in while the first stage has credit and the pipeline-wide
/// budget has room.
void admit(controller_actor::stateful_pointer<controller_state> self) {
  auto& st = self->state;
  if (st.stages.empty())
    return;
  while (st.credit > 0 && st.in_flight < st.max_in_flight
         && st.failure.empty()) {
    auto next = st.feed->next();
    if (!next)
      break;
    next->admitted = std::chrono::steady_clock::now();
    next->ticket = ++st.next_ticket;
    st.admitted[next->ticket].name
      = next->relative.empty() ? next->path : next->relative;
    if (st.metrics)
      st.metrics->admitted();
    self->send(st.stages.front(), std::move(*next));
    --st.credit;
    ++st.in_flight;
    ++st.admissions;
    st.report->peak_in_flight
      = std::max<std::int64_t>(st.report->peak_in_flight, st.in_flight);
  }
}

controller_actor::behavior_type
controller(controller_actor::stateful_pointer<controller_state> self,
           job_feed* feed, flow_options options,
           std::shared_ptr<flow_report> report) {
  auto& st = self->state;
  st.feed = feed;
  st.max_in_flight = std::max(1, options.max_in_flight);
  st.keep_finished = options.keep_finished;
  st.report = std::move(report);
  st.on_finished = std::move(options.on_finished);
  st.metrics = std::move(options.metrics);
  controller_actor me{self};
  feed->start([me] { caf::anon_send(me, wake_atom::value); });
  self->set_down_handler([=](caf::down_msg& m) {
    if (self->state.finished)
      return;
    fail_run(self, fmt::format("a stage of the pipeline stopped on its own "
                               "({}); stopping the run",
                               self->system().render(m.reason)));
  });
  return {
    [=](connect_atom, std::vector<stage_actor>& stages) {
      auto& s = self->state;
      s.stages = std::move(stages);
      // A stage that stops on its own (a worker failed in a way no job
      // could record) would leave its jobs waiting for ever.
      for (auto& stage : s.stages)
        self->monitor(stage);
      self->send(self, audit_atom::value);
      // The last stage can never hold more finished jobs than are in flight.
      self->send(s.stages.back(), credit_atom::value,
                 uint32_t(s.max_in_flight));
      admit(self);
    },
    [=](credit_atom, uint32_t n) {
      self->state.credit += int(n);
      admit(self);
    },
    [=](job& j) {
      auto& s = self->state;
      --s.in_flight;
      s.admitted.erase(j.ticket);
      j.img.reset();
      if (s.metrics)
        s.metrics->finished(j, std::chrono::steady_clock::now() - j.admitted);
      if (s.on_finished)
        s.on_finished(j);
      ++s.report->finished_count;
      if (s.keep_finished)
        s.report->finished.push_back(std::move(j));
      self->send(s.stages.back(), credit_atom::value, uint32_t{1});
      admit(self);
      finish_if_done(self);
      // Drained but not done (a watch between bursts): hand the heap's free
      // memory back if nothing comes in for a while.
      if (s.in_flight == 0 && !s.finished)
        self->delayed_send(self, idle_trim_after, idle_atom::value,
                           s.admissions);
    },
    [=](idle_atom, std::uint64_t admissions) {
      auto& s = self->state;
      if (s.in_flight > 0 || s.admissions != admissions)
        return;
      if (auto free_bytes = release_memory_while_idle())
        spdlog::debug("nothing in flight: heap trimmed ({} MiB were free)",
                      free_bytes >> 20);
    },
    [=](wake_atom) {
      admit(self);
      finish_if_done(self);
    },
    // Every second: asks each stage which jobs it holds.
    [=](audit_atom) {
      auto& s = self->state;
      if (s.finished)
        return;
      self->delayed_send(self, audit_every, audit_atom::value);
      if (s.admitted.empty() || s.audit_waiting > 0)
        return;
      ++s.audit_round;
      s.audit_waiting = s.stages.size();
      s.audit_seen.clear();
      for (auto& stage : s.stages)
        self->send(stage, audit_atom::value, s.audit_round);
    },
    [=](audit_atom, std::uint64_t round, std::vector<std::uint64_t>& held) {
      auto& s = self->state;
      if (round != s.audit_round || s.audit_waiting == 0)
        return;
      s.audit_seen.insert(held.begin(), held.end());
      if (--s.audit_waiting == 0)
        check_audit(self);
    },
    [=](wait_atom) -> caf::typed_response_promise<std::string> {
      auto& s = self->state;
      s.waiter = self->make_response_promise<std::string>();
      s.waiting = true;
      auto rp = s.waiter;
      finish_if_done(self);
      return rp;
    },
  };
}

} // namespace

flow_report run_flow(const std::vector<stage_runtime>& stages,
                     std::vector<job> inputs, const flow_options& options) {
  list_feed feed{std::move(inputs)};
  return run_flow(stages, feed, options);
}

int credit_to_request(int budget, int held, double job_ms) {
  int room = budget - held;
  if (room <= 0)
    return 0;
  bool short_jobs = job_ms >= 0 && job_ms < short_job_ms;
  return short_jobs || room >= std::max(1, budget / 2) ? room : 0;
}

flow_report run_flow(const std::vector<stage_runtime>& stages, job_feed& feed,
                     const flow_options& options) {
  if (stages.empty())
    throw std::invalid_argument("a flow needs at least one stage");
  auto report = std::make_shared<flow_report>();
  auto config = std::make_shared<caf::actor_system_config>();
  auto& cfg = *config;
  add_protocol_types(cfg);
  if (options.detached_workers) {
    // The scheduled actors (controller, stage dispatchers) only pass small
    // messages; image work runs on the detached workers. So two scheduler
    // threads are plenty, and they must sleep when idle: CAF's default
    // work-stealing policy polls for work before sleeping, on max(cores, 4)
    // threads, and that spinning took CPU from libvips
    // (bench/HISTORY.md, "scheduler").
    cfg.set("scheduler.policy", caf::atom("sharing"));
    cfg.set("scheduler.max-threads", size_t{2});
  }
  std::vector<stage_metrics*> counters(stages.size(), nullptr);
  // A stage whose workers run a chain of stages themselves (a worker
  // process's) counts each of them too, under its own name.
  std::vector<std::vector<stage_metrics*>> chain_counters(stages.size());
  for (size_t i = 0; i < stages.size(); ++i)
    chain_counters[i].assign(stages[i].chain.size(), nullptr);
  if (options.metrics) {
    std::vector<std::string> names;
    for (auto& s : stages) {
      names.push_back(s.name);
      names.insert(names.end(), s.chain.begin(), s.chain.end());
    }
    auto all = options.metrics->begin_flow(names,
                                           std::max(1, options.max_in_flight));
    size_t k = 0;
    for (size_t i = 0; i < stages.size(); ++i) {
      counters[i] = all[k++];
      for (auto& c : chain_counters[i])
        c = all[k++];
    }
  }
  bool networked = std::any_of(stages.begin(), stages.end(),
                               [](auto& s) { return !s.remote.empty(); });
  if (networked) {
    bool tls = std::any_of(options.nodes.begin(), options.nodes.end(),
                           [](auto& n) { return n.tls; });
    int timeout = 1;
    for (auto& n : options.nodes)
      timeout = std::max(timeout, n.connection_timeout);
    configure_network(cfg, tls, options.tls.certificate, options.tls.key,
                      options.tls.ca, std::chrono::seconds(timeout));
  }
  // Declared before every actor handle below, so it ends after them.
  network_system owner{config, networked};
  auto& sys = *owner.sys;
  auto ctrl = sys.spawn(controller, &feed, options, report);
  // Build back to front: each stage needs the actor it sends its output to.
  std::vector<stage_actor> actors(stages.size());
  job_sink_actor downstream = ctrl;
  for (size_t i = stages.size(); i-- > 0;) {
    auto stage = stages[i];
    if (stage.make_chain_worker)
      stage.make_worker = [make = stage.make_chain_worker,
                           chain = chain_counters[i]] { return make(chain); };
    if (stage.make_queued_worker)
      stage.make_queued_worker
        = [make = stage.make_queued_worker,
           chain = chain_counters[i]](const std::vector<stage_metrics*>&) {
            return make(chain);
          };
    actors[i] = sys.spawn(dispatcher, std::move(stage), downstream,
                          options.detached_workers, counters[i]);
    downstream = actors[i];
  }
  for (size_t i = 0; i < actors.size(); ++i)
    caf::anon_send(actors[i], connect_atom::value,
                   i == 0 ? credit_sink_actor{ctrl}
                          : credit_sink_actor{actors[i - 1]});
  caf::scoped_actor self{sys};
  std::string failure;
  // One keeper per node a stage is placed on; the run starts only once
  // every node took its stages.
  std::vector<node_keeper_actor> keepers;
  for (auto& n : options.nodes) {
    std::vector<keeper_stage> placed;
    for (size_t i = 0; i < stages.size(); ++i)
      for (auto& p : stages[i].remote)
        if (p.node == n.name)
          placed.push_back({actors[i], stages[i].recipe, p.workers});
    if (placed.empty())
      continue;
    keepers.push_back(sys.spawn<caf::detached>(node_keeper, n, placed,
                                               caf::timespan{options.retry}));
    self->request(keepers.back(), caf::infinite, connect_atom::value)
      .receive([&](std::string& why) { failure = why; },
               [&](caf::error& err) {
                 failure = fmt::format("node {} ({}): {}", n.name, n.address,
                                       sys.render(err));
               });
    if (!failure.empty())
      break;
  }
  auto stop_keepers = [&] {
    for (auto& k : keepers)
      self->send_exit(k, caf::exit_reason::user_shutdown);
  };
  if (!failure.empty()) {
    stop_keepers();
    self->send_exit(ctrl, caf::exit_reason::user_shutdown);
    for (auto& a : actors)
      self->send_exit(a, caf::exit_reason::user_shutdown);
    throw node_error(failure);
  }
  // Running before the first job can finish: the controller starts work
  // (and calls on_finished) as soon as it is connected.
  if (options.metrics)
    options.metrics->set_running(true);
  caf::anon_send(ctrl, connect_atom::value, actors);
  self->request(ctrl, caf::infinite, wait_atom::value)
    .receive([&](std::string& why) { failure = why; },
             [&](caf::error& err) {
               failure = "pipeline controller failed: " + sys.render(err);
             });
  stop_keepers();
  if (options.metrics)
    options.metrics->set_running(false);
  if (!failure.empty())
    throw std::runtime_error(failure);
  return std::move(*report);
}

} // namespace pixline
