#pragma once

#include <span>
#include <string>
#include <string_view>

#include <pqxx/pqxx>

#include "collectors/collector.h"

namespace aee {

/// How the live view shows agent_runs.user_id (--api.user-id).
enum class UserIdMode { kOmit, kHash, kPlain };

/// Options of the realtime collector (flags --collector.realtime.* and --api.*).
struct RealtimeCollectorOptions {
  /// Longest-running runs per workspace exposed with their run_id; 0 = none.
  int top_runs = 10;
  /// A running run is overdue once it has run this many times its estimated_runtime.
  double overdue_factor = 3.0;
  /// Live view (issue #12): running runs and queue entries listed per workspace
  /// and list; 0 = no live view (nothing extra is read).
  int live_cap = 0;
  /// Dequeue order of the live queue list: priority (highest first, then oldest)
  /// or fifo (oldest first).
  bool queue_fifo = false;
  /// user_id is not even read unless asked for; kHash shows an HMAC-SHA256 of it.
  UserIdMode user_id = UserIdMode::kOmit;
  std::string user_id_key;  // the HMAC key for kHash

  bool operator==(const RealtimeCollectorOptions&) const = default;
};

/// The first 16 bytes of HMAC-SHA256(key, user_id), as 32 hex digits: the same
/// user is recognisable across runs and restarts without being named.
std::string HashUserId(std::string_view key, std::string_view user_id);

/// What is running and queued right now, per workspace; with a live view sink,
/// also the capped lists of runs and queue entries (collectors/live_view.h).
///
/// Every workspace in the workspaces table gets a series (0 when idle); a deleted
/// workspace's series disappear with it. Reads only partial indexes over running
/// and waiting rows, so its cost follows concurrency, not history.
class RealtimeCollector final : public Collector {
 public:
  RealtimeCollector(CollectorContext ctx, RealtimeCollectorOptions options);
  Snapshot Collect(DbSession& db) override;
  static std::span<const FamilySpec> Families();
  /// Its flags (--collector.realtime.*).
  static std::span<const CollectorFlag> Flags();

 private:
  void PublishLiveView(const pqxx::result& rows, std::int64_t now_us) const;

  CollectorContext ctx_;
  RealtimeCollectorOptions options_;
  std::string sql_;
};

}  // namespace aee
