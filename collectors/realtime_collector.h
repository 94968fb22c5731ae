#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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
  /// With a change feed (--db.notify-channel and schema/notify.sql), samples re-read
  /// only the announced rows and read everything at most this long apart
  /// (--collector.realtime.resync-interval); 0 = read everything every sample.
  std::chrono::milliseconds resync_interval{60000};
};

/// The first 16 bytes of HMAC-SHA256(key, user_id), as 32 hex digits: the same
/// user is recognisable across runs and restarts without being named.
std::string HashUserId(std::string_view key, std::string_view user_id);

/// What is running and queued right now, per workspace; with a live view sink,
/// also the capped lists of runs and queue entries (collectors/live_view.h).
///
/// Every workspace in the workspaces table gets a series (0 when idle); a deleted
/// workspace's series disappear with it. Reads only partial indexes over running
/// and waiting rows, so its cost follows concurrency, not history; with a change
/// feed whose triggers are all in place, a sample applies the states announced
/// since the last one (reading by primary key only the rows it must: user_id for
/// the live view, entries without a state) and computes every figure from the
/// cached running and waiting rows at the sample's time, with a full read every
/// resync_interval and after any gap.
class RealtimeCollector final : public Collector {
 public:
  RealtimeCollector(CollectorContext ctx, RealtimeCollectorOptions options);
  Snapshot Collect(DbSession& db) override;
  static std::span<const FamilySpec> Families();
  /// Its flags (--collector.realtime.*).
  static std::span<const CollectorFlag> Flags();

  /// Samples since start-up that read everything / only announced rows (tests, bench).
  std::uint64_t full_reads() const { return full_reads_; }
  std::uint64_t incremental_reads() const { return incremental_reads_; }
  /// Announced rows read by primary key / applied from their announced state, and
  /// agents whose name was read for an applied row (tests, bench).
  std::uint64_t announced_rows_read() const { return announced_rows_read_; }
  std::uint64_t announced_states_applied() const { return announced_states_applied_; }
  std::uint64_t agent_names_read() const { return agent_names_read_; }

  /// A cached running run or waiting queue entry (times in Unix microseconds).
  struct Time {
    // In ORDER BY order (NULLS LAST); the SQL sends the same numbers.
    enum Kind { kMinusInfinity = 0, kFinite = 1, kPlusInfinity = 2, kNull = 3 } kind = kNull;
    std::int64_t us = 0;
  };
  struct CachedRun {
    std::string workspace, agent, agent_name;
    std::optional<std::string> user;
    Time started;
    std::optional<double> estimated;
  };
  struct CachedEntry {
    std::string workspace, agent, agent_name;
    std::optional<double> priority;
    Time queued, estimated_start;
  };

 private:
  void PublishLiveView(const pqxx::result& rows, std::int64_t now_us) const;
  Snapshot CollectAll(DbSession& db, std::int64_t now_us);
  /// True when the triggers are in place and the session is not a standby.
  bool FeedUsable(DbSession& db, std::int64_t now_us, std::int64_t recheck_us);
  void Resync(DbSession& db);
  /// Applies the announced states and reads the rows that must be read.
  void ApplyChanges(DbSession& db, const ChangeFeed::Changes& changes);
  void ReadChanged(DbSession& db, const std::vector<std::string>& runs, const std::vector<std::string>& queue);
  /// The names of agents not in agent_names_ (read once each; "" when none).
  void ReadAgentNames(DbSession& db, const std::vector<std::string>& agents);
  Snapshot FromCache(std::int64_t now_us) const;

  CollectorContext ctx_;
  RealtimeCollectorOptions options_;
  std::string sql_;
  std::string resync_sql_, changed_sql_, triggers_sql_, agent_names_sql_;
  // The cache of the incremental path: every workspace (id -> name), running run
  // (run_id -> row) and waiting entry (queue_id -> row) this shard sees.
  bool cache_valid_ = false;
  std::int64_t last_resync_us_ = 0;
  std::optional<std::int64_t> triggers_checked_us_;
  bool triggers_ok_ = false;
  std::map<std::string, std::string> workspaces_;
  std::map<std::string, CachedRun> runs_;
  std::map<std::string, CachedEntry> queue_;
  // Agent names for rows applied from their state (live view only), each read
  // after the feed's agents generation names_generation_ was taken: while it stays
  // (and the feed is trusted) no agent changed, so they are kept across resyncs.
  std::map<std::string, std::string> agent_names_;
  std::uint64_t names_generation_ = 0;
  std::uint64_t full_reads_ = 0;
  std::uint64_t incremental_reads_ = 0;
  std::uint64_t announced_rows_read_ = 0;
  std::uint64_t announced_states_applied_ = 0;
  std::uint64_t agent_names_read_ = 0;
};

}  // namespace aee
