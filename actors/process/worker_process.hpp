#pragma once
// pixline's side of one worker process (isolation = "process",
// docs/operations.md "Isolation"): starts it, hands it inputs as file
// descriptors (the next one may wait in the link while it works on one:
// it reads them one at a time), reads back the encoded outputs, and
// replaces it when it crashes, runs past the deadline or runs out of
// memory. Everything
// that reads an input's bytes happens in the worker; naming, writing and
// the journal stay in pixline.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/types.h>

#include "actors/process/channel.hpp"
#include <nlohmann/json_fwd.hpp>

#include "actors/net/wire.hpp"

namespace pixline {

struct job;

struct worker_process_settings {
  /// "chain": the recipe is a chain recipe and run() is used; "node": a
  /// node's recipe (one stage) and run_node() is used.
  std::string mode = "chain";
  /// The recipe (actors/net/recipes.hpp).
  std::string recipe;
  /// Its stages' names, in order (chain_worker::stages).
  std::vector<std::string> stages;
  /// Plugins the worker loads before building the chain.
  std::vector<std::string> plugins;
  /// Files the recipe's stages read (take_out_files), their paths and
  /// their contents in sealed memfds, handed to every worker process.
  std::vector<std::string> file_names;
  std::shared_ptr<const std::vector<unique_fd>> files;
  /// Seconds one image may take, from the file to its encoded outputs,
  /// before the worker is killed; 0: no limit.
  double image_timeout = 120;
  /// The worker's address-space limit; 0: none.
  int memory_mib = 0;
  /// Times an image whose worker crashed is tried again, in a fresh worker.
  int crash_retries = 1;
  /// Largest input file (MiB; 0: no limit), checked before it is handed on.
  int max_file_mib = 0;
  int vips_concurrency = 1;
  bool vips_cache = false;
  /// Landlock and seccomp (off only for tests of the sandbox itself).
  bool sandbox = true;
  /// The program to start; it must call run_worker_if_asked() first.
  std::string executable = "/proc/self/exe";
  /// Start the process when the object is made (it then sets itself up
  /// while the pipeline starts); false: when the first image comes.
  bool start_now = true;
  /// Stop the process once it has had no image for this many seconds (a
  /// later image starts a fresh one); 0: keep it until the object goes.
  double idle_stop = 0;
};

/// What a worker process made of one image.
struct worker_result {
  /// Why the image failed; empty when it did not.
  std::string error;
  /// The stage it failed in, by name and index in the chain.
  std::string stage;
  int stage_index = 0;
  /// Time spent in each stage the image reached, in nanoseconds (empty when
  /// the worker did not report them: it crashed or was stopped).
  std::vector<std::uint64_t> stage_ns;
  /// Each sink's output, in sink order.
  std::vector<wire_output> outputs;
};

/// What a worker process writes in place of its private copy of the input
/// in the messages it returns; pixline puts the input's path there (a path
/// need not be UTF-8, which the link's JSON must be).
inline constexpr std::string_view input_marker = "\x1b<input>\x1b";

/// Where worker processes get their scratch folders: $TMPDIR, else /tmp.
std::filesystem::path scratch_parent();

/// Removes the scratch folders of worker processes whose pixline is gone
/// (killed before it could remove them): this user's
/// `pixline-worker-PID-*` folders in scratch_parent(), never through a
/// symlink. Returns how many it removed.
std::size_t remove_stale_scratch();

/// True when an error, or what a worker wrote last, says an allocation
/// failed: the worker is past its memory limit.
bool says_out_of_memory(const std::string& text);

/// One worker process and the link to it. One pipeline worker owns it and
/// calls run() or run_node(), one image at a time; with `idle_stop` a
/// thread of its own stops the process when it has been idle that long.
class worker_process {
public:
  /// Starts the process now or with the first image (`start_now`).
  explicit worker_process(worker_process_settings settings);
  ~worker_process();
  worker_process(const worker_process&) = delete;
  worker_process& operator=(const worker_process&) = delete;

  /// Runs the chain on `j`'s input: submit() and collect(). Never throws:
  /// every failure, the worker's crash or deadline included, is the
  /// result's error.
  worker_result run(const job& j);

  /// Hands `j` to the worker process after the jobs submitted before it:
  /// the request waits in the link, so the worker starts on `j` as soon as
  /// it replies for the one before, without waiting for this process.
  /// `j` must stay where it is until collect() returned its result. Never
  /// throws: a failure (the input cannot be opened) is collect()'s result.
  void submit(const job& j);

  /// Waits for the oldest submitted job's result. A crash, deadline or
  /// memory exhaustion under that job is its failure alone: the jobs
  /// submitted after it go to a fresh worker process, and a crash counts
  /// only against the job the worker was working on (it was answering the
  /// ones before in order, and had not read the ones after). Never throws.
  worker_result collect();

  /// The same, but returns nothing (the job still submitted) as soon as
  /// `wake` is readable and `woken()` says so: the caller has another job
  /// to submit first.
  std::optional<worker_result> collect(int wake,
                                       const std::function<bool()>& woken);

  /// Jobs submitted and not collected yet.
  std::size_t queued() const {
    return queue_.size();
  }

  /// With `mode` "node": runs the node recipe's stage on `in` (a node's
  /// job, as a coordinator sent it). Never throws: a failure, the worker's
  /// crash or deadline included, is the result's error.
  wire_result run_node(const wire_job& in);

  /// The process id of the current worker process (0 when none).
  pid_t pid() const {
    std::lock_guard lock(mutex_);
    return pid_;
  }

  /// Worker processes started so far by this object (replacements count).
  int started() const {
    std::lock_guard lock(mutex_);
    return started_;
  }

private:
  /// The idle-stop thread: stops the process once it has had no image for
  /// `idle_stop` seconds.
  void stop_when_idle();
  /// Marks the end of an image: the idle time counts from now.
  void used();
  /// Counts one image of run_node() in outstanding_ while it is worked
  /// on, as submit() and collect() count theirs: the process is not
  /// stopped for idleness meanwhile, and its idle time counts from the end.
  struct in_flight {
    explicit in_flight(worker_process& w) : owner(w) {
      std::lock_guard lock(w.mutex_);
      ++w.outstanding_;
    }
    ~in_flight() {
      std::lock_guard lock(owner.mutex_);
      --owner.outstanding_;
      owner.used();
    }
    in_flight(const in_flight&) = delete;
    in_flight& operator=(const in_flight&) = delete;
    worker_process& owner;
  };
  /// collect() without the bookkeeping of outstanding_.
  std::optional<worker_result> collect_one(int wake,
                                           const std::function<bool()>& woken);
  void start();
  /// Waits for the worker's "ready"; throws with the reason it is not.
  void await_ready();
  /// Ends the current process (SIGKILL when `kill`), reaps it and returns
  /// how it ended, in words ("SIGABRT", "exit status 1").
  std::string stop(bool kill);
  /// Reads what the worker wrote to stderr so far (keeps the last line).
  void drain_stderr();
  /// A submitted job.
  struct request {
    const job* j = nullptr;
    /// Worker processes that crashed under it.
    int crashes = 0;
    /// In the current worker process's link.
    bool sent = false;
    /// Why it was not sent (its input cannot be opened, no worker process
    /// starts): its result.
    std::optional<worker_result> failed;
  };
  /// Sends every request not sent yet, starting a worker process when
  /// there is none.
  void send_queued();
  /// The worker process is gone: its requests go to the next one.
  void requeue();
  /// The reply `m` to `j`'s request, as a result.
  worker_result read_reply(const job& j, const channel_message& m);
  /// Sends one request with `fd` and waits, under the deadline, for the
  /// reply; nothing when the worker crashed (`crashed`), ran out of memory
  /// or time, with the reason in `failure`.
  std::optional<channel_message> exchange(const std::string& request, int fd,
                                          worker_result& failure,
                                          bool& crashed);
  /// Waits for the next reply, the worker having started on its request
  /// at `started`; as exchange().
  std::optional<channel_message>
  await_reply(std::chrono::steady_clock::time_point started,
              worker_result& failure, bool& crashed);
  /// The same, returning nothing with `interrupted` set when `wake` is
  /// readable and `woken()` says so.
  std::optional<channel_message>
  await_reply(std::chrono::steady_clock::time_point started,
              worker_result& failure, bool& crashed, int wake,
              const std::function<bool()>& woken, bool& interrupted);
  /// Forgets what the worker wrote for the image before (its crash
  /// message names the image's own last line).
  void clear_output();
  /// The error, stage and memory state a reply reports.
  void read_error(const nlohmann::json& reply, worker_result& r);
  /// The stage the worker said it is in.
  int stage_index() const;

  worker_process_settings settings_;
  pid_t pid_ = 0;
  unique_fd socket_;
  unique_fd stderr_;
  unique_fd status_fd_;
  std::atomic<int>* status_ = nullptr;
  std::string scratch_;
  bool ready_ = false;
  int started_ = 0;
  /// False once the worker closed its end of the stderr pipe.
  bool stderr_open_ = true;
  std::string stderr_tail_;
  std::string last_line_;
  /// Guards outstanding_ and last_used_; held by submit() while it queues
  /// and sends, and by the idle-stop thread while it stops the process.
  mutable std::mutex mutex_;
  std::condition_variable idle_changed_;
  std::chrono::steady_clock::time_point last_used_;
  bool closing_ = false;
  std::thread idle_stopper_;
  /// Submitted jobs, oldest first.
  std::deque<request> queue_;
  /// Images being worked on: submitted jobs collect() has not returned
  /// yet, and run_node()'s (under mutex_). The process is not stopped for
  /// idleness while there are any, so the thread working on them alone
  /// touches it meanwhile.
  std::size_t outstanding_ = 0;
  /// When the worker process started on the oldest one.
  std::chrono::steady_clock::time_point head_started_;
};

} // namespace pixline
