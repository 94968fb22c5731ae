#include "core/change_listener.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include <pqxx/pqxx>

#include "core/db.h"

namespace aee {
namespace {

using prometheus::MetricType;
using std::chrono::milliseconds;

constexpr FamilySpec kUp{"agent_exporter_notify_listener_up", MetricType::Gauge,
                         "1 while the LISTEN connection of --db.notify-channel is established.", {}};
constexpr FamilySpec kNotifications{"agent_exporter_notifications_total", MetricType::Counter,
                                    "Change notifications received on --db.notify-channel.", {}};
constexpr FamilySpec kReconnects{"agent_exporter_notify_listener_connects_total", MetricType::Counter,
                                 "Times the LISTEN connection was (re)established.", {}};
constexpr std::array<FamilySpec, 3> kFamilies = {kUp, kNotifications, kReconnects};

constexpr milliseconds kPollSlice{1000};
constexpr milliseconds kKeepalive{30000};
constexpr milliseconds kMaxBackoff{30000};

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& conn, const std::string& channel, const ChangeListener::OnChange& on_change,
           std::atomic<std::uint64_t>& count)
      : pqxx::notification_receiver(conn, channel), on_change_(on_change), count_(count) {}
  void operator()(const std::string& payload, int) override {
    count_.fetch_add(1, std::memory_order_relaxed);
    on_change_(payload);
  }

 private:
  const ChangeListener::OnChange& on_change_;
  std::atomic<std::uint64_t>& count_;
};

}  // namespace

bool IsValidChannelName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (!std::isalpha(static_cast<unsigned char>(name[0])) && name[0] != '_') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

ChangeListener::ChangeListener(std::string db_url, std::string channel, OnChange on_change, Logger& logger,
                               const SteadyClock& clock)
    : db_url_(std::move(db_url)),
      channel_(std::move(channel)),
      on_change_(std::move(on_change)),
      logger_(logger),
      clock_(clock) {}

ChangeListener::~ChangeListener() { Stop(); }

std::span<const FamilySpec> ChangeListener::Families() { return kFamilies; }

void ChangeListener::Start() {
  if (thread_.joinable()) return;
  if (pipe(stop_pipe_) != 0) {
    logger_.Log(LogLevel::kError, "cannot create the listener's stop pipe; notifications off", {});
    return;
  }
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void ChangeListener::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  const char byte = 1;
  [[maybe_unused]] ssize_t n = write(stop_pipe_[1], &byte, 1);
  thread_.join();
  close(stop_pipe_[0]);
  close(stop_pipe_[1]);
  stop_pipe_[0] = stop_pipe_[1] = -1;
}

void ChangeListener::Loop() {
  milliseconds backoff{1000};
  bool logged_failure = false;
  while (!stopping_) {
    const std::uint64_t connects_before = reconnects_.load();
    try {
      Listen();
      return;  // stopped
    } catch (const std::exception& e) {
      up_ = false;
      if (on_down_) on_down_();
      if (stopping_) return;
      if (reconnects_.load() != connects_before) {  // it was up, then dropped
        backoff = milliseconds(1000);
        logged_failure = false;
      }
      if (!logged_failure) {
        logged_failure = true;
        logger_.Log(LogLevel::kWarn, "notify listener down, polling only until it is back",
                    {{"channel", channel_}, {"err", logger_.Redact(e.what())}});
      }
    }
    // Wait for the backoff or a stop request.
    std::unique_lock lock(stop_mu_);
    clock_.WaitUntil(stop_cv_, lock, clock_.Now() + backoff, [this] { return stopping_.load(); });
    lock.unlock();
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

void ChangeListener::Listen() {
  DbSession session(db_url_, "agent_execution_exporter/listen");
  pqxx::connection& conn = session.Get();
  Receiver receiver(conn, channel_, on_change_, notifications_);  // issues LISTEN
  auto last_traffic = clock_.Now();
  up_ = true;
  reconnects_.fetch_add(1, std::memory_order_relaxed);
  logger_.Log(LogLevel::kInfo, "listening for change notifications", {{"channel", channel_}});
  // Changes committed before LISTEN took effect were not announced: wake once.
  on_change_("");
  while (!stopping_) {
    pollfd fds[2] = {{conn.sock(), POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    const int ready = poll(fds, 2, static_cast<int>(kPollSlice.count()));
    if (stopping_) break;
    if (ready > 0 && fds[0].revents != 0) {
      conn.get_notifs();  // throws broken_connection when the socket was closed
      last_traffic = clock_.Now();
    } else if (clock_.Now() - last_traffic >= kKeepalive) {
      pqxx::nontransaction tx(conn);
      tx.exec("SELECT 1");
      tx.commit();
      conn.get_notifs();
      last_traffic = clock_.Now();
    }
  }
  up_ = false;
}

std::vector<prometheus::MetricFamily> ChangeListener::Gather() const {
  std::vector<prometheus::MetricFamily> out;
  FamilyBuilder up(kUp);
  up.Add({}, up_ ? 1 : 0);
  out.push_back(up.Take());
  FamilyBuilder notifications(kNotifications);
  notifications.Add({}, static_cast<double>(notifications_.load()));
  out.push_back(notifications.Take());
  FamilyBuilder connects(kReconnects);
  connects.Add({}, static_cast<double>(reconnects_.load()));
  out.push_back(connects.Take());
  return out;
}

}  // namespace aee
