#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"

namespace aee {

/// True if name can be a LISTEN channel without quoting: [A-Za-z_][A-Za-z0-9_]*,
/// at most 63 bytes (PostgreSQL's identifier limit).
bool IsValidChannelName(std::string_view name);

/// Holds one connection in LISTEN on a channel that the optional triggers of
/// schema/notify.sql NOTIFY on every change to agent_runs and execution_queue, and
/// calls on_change(payload) for each notification (the payload is the table name).
///
/// It only listens: it never writes, so the exporter stays read-only. Notifications
/// are hints that something changed, never data: the collectors still read the
/// tables, so a lost notification costs freshness, not correctness, and polling
/// goes on underneath. The connection is re-established with backoff when it
/// drops; a 30 s keepalive query notices a silently dead peer. db_url is a direct
/// connection to the primary (--db.notify-url when the collectors read through a
/// transaction pooler or from a hot standby, where LISTEN gets nothing).
class ChangeListener {
 public:
  using OnChange = std::function<void(std::string_view payload)>;

  /// clock times the keepalive and the reconnect backoff (1 s doubling to 30 s),
  /// which is waited through it.
  ChangeListener(std::string db_url, std::string channel, OnChange on_change, Logger& logger,
                 const SteadyClock& clock = RealSteadyClock::Instance());
  ~ChangeListener();
  ChangeListener(const ChangeListener&) = delete;
  ChangeListener& operator=(const ChangeListener&) = delete;

  /// Called (before Start) with a function run each time the connection is lost:
  /// notifications are missed from then until the next on_change("").
  void SetOnDown(std::function<void()> on_down) { on_down_ = std::move(on_down); }
  void Start();
  void Stop();

  /// agent_exporter_notify_* self-metrics.
  std::vector<prometheus::MetricFamily> Gather() const;
  static std::span<const FamilySpec> Families();

 private:
  void Loop();
  /// One connected session: LISTEN, then wait for notifications until stopped or
  /// the connection fails (throws).
  void Listen();

  const std::string db_url_;
  const std::string channel_;
  const OnChange on_change_;
  std::function<void()> on_down_;
  Logger& logger_;
  const SteadyClock& clock_;
  int stop_pipe_[2] = {-1, -1};  // wakes the poll of a connected session
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;  // wakes the wait between connection attempts
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> up_{false};
  std::atomic<std::uint64_t> notifications_{0};
  std::atomic<std::uint64_t> reconnects_{0};
};

}  // namespace aee
