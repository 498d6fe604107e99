#pragma once
// The live progress line of a batch, and the log sink that steps around it.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include <fmt/format.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <sys/ioctl.h>
#include <unistd.h>

namespace pixline::app {

/// The live progress line of a batch on a terminal: done/total, images/s,
/// ETA and failures, redrawn in place at most ten times a second and cut to
/// the terminal's width; nothing at all when stdout is not a terminal, with
/// --quiet, or in watch mode. Log lines clear it first and redraw it after
/// (progress_sink), so they never land in the middle of it.
class progress_line {
public:
  explicit progress_line(bool enabled) : enabled_(enabled) {
  }

  bool enabled() const {
    return enabled_;
  }

  void start(std::size_t total) {
    std::lock_guard<std::mutex> guard{mutex_};
    total_ = total;
    start_ = std::chrono::steady_clock::now();
  }

  void tick(bool failed) {
    std::lock_guard<std::mutex> guard{mutex_};
    ++done_;
    failed_ += failed ? 1 : 0;
    if (!enabled_)
      return;
    auto now = std::chrono::steady_clock::now();
    if (done_ != total_ && now - last_ < std::chrono::milliseconds(100))
      return;
    last_ = now;
    draw();
  }

  /// Takes the line off the screen before a log line is written.
  void hide() {
    std::lock_guard<std::mutex> guard{mutex_};
    if (drawn_) {
      fmt::print("\r\x1b[K");
      std::fflush(stdout);
    }
  }

  /// Puts it back after the log line.
  void show() {
    std::lock_guard<std::mutex> guard{mutex_};
    if (drawn_)
      draw();
  }

  /// Clears the line before the summary is printed.
  void finish() {
    hide();
    std::lock_guard<std::mutex> guard{mutex_};
    drawn_ = false;
  }

  /// The line for a terminal `columns` wide: the bar narrows (24 columns
  /// at most) and then goes, then the ETA, then the text is cut, so it
  /// never wraps (a wrapped line cannot be redrawn in place).
  static std::string render(std::size_t done, std::size_t total,
                            std::size_t failed, double rate, double eta,
                            int columns) {
    auto limit = std::size_t(std::max(columns - 1, 1));
    std::string counts = fmt::format("{}/{}", done, total);
    std::string speed = fmt::format("{:.1f} images/s", rate);
    std::string time = fmt::format("ETA {:.0f} s", eta);
    std::string fails = fmt::format("{} failed", failed);
    auto text = counts + "  " + speed + "  " + time + "  " + fails;
    // "[" + bar + "] " around it; a bar under 8 columns says too little.
    if (text.size() + 3 + 8 <= limit) {
      auto width = std::min<std::size_t>(24, limit - text.size() - 3);
      auto filled = total ? width * std::min(done, total) / total : width;
      return fmt::format("[{:=<{}}{:<{}}] {}", "", filled, "",
                         width - filled, text);
    }
    for (auto line : {text, counts + "  " + speed + "  " + fails})
      if (line.size() <= limit)
        return line;
    return (counts + "  " + fails).substr(0, limit);
  }

private:
  static int columns() {
    winsize ws{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
      return ws.ws_col;
    return 80;
  }

  void draw() {
    std::chrono::duration<double> took = std::chrono::steady_clock::now()
                                         - start_;
    double rate = took.count() > 0 ? double(done_) / took.count() : 0.0;
    auto left = total_ > done_ ? total_ - done_ : 0;
    auto eta = rate > 0 ? double(left) / rate : 0.0;
    fmt::print("\r{}\x1b[K",
               render(done_, total_, failed_, rate, eta, columns()));
    std::fflush(stdout);
    drawn_ = true;
  }

  bool enabled_;
  std::mutex mutex_;
  std::size_t total_ = 0;
  std::size_t done_ = 0;
  std::size_t failed_ = 0;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

/// The progress line that log lines must step around, while a batch runs.
inline std::atomic<progress_line*> live_progress{nullptr};

/// pixline's log sink: the coloured stderr sink, with the progress line
/// taken off the terminal for each log line and drawn again after it.
class progress_sink : public spdlog::sinks::base_sink<std::mutex> {
public:
  progress_sink() : inner_(std::make_shared<spdlog::sinks::stderr_color_sink_mt>()) {
  }

protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    auto* progress = live_progress.load();
    if (progress)
      progress->hide();
    inner_->log(msg);
    if (progress)
      progress->show();
  }

  void flush_() override {
    inner_->flush();
  }

  void set_pattern_(const std::string& pattern) override {
    inner_->set_pattern(pattern);
  }

  void set_formatter_(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_->set_formatter(std::move(formatter));
  }

private:
  std::shared_ptr<spdlog::sinks::sink> inner_;
};

} // namespace pixline::app
