#pragma once

// What the collectors share: the context a collector is built with (the workspaces
// it owns, its clock and timeout, the live view sinks) and the SQL helpers of
// exact counting (cursors, latency classification in SQL).

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "collectors/change_feed.h"
#include "collectors/live_view.h"
#include "core/clock.h"
#include "core/collector.h"
#include "core/flags.h"

namespace pqxx {
class transaction_base;
class result;
}

namespace aee {

class Logger;
struct CollectorOptions;  // collectors/options.h

/// One flag a collector declares beside its families: name, default text (the one
/// written value; a test parses it and compares it with the options struct's
/// default), help, and the setter that parses a value into the options.
struct CollectorFlag {
  FlagSpec spec;
  /// false with *why (the error without the flag name) on a bad value.
  bool (*set)(std::string_view value, CollectorOptions* options, std::string* why);
};

/// Which share of the workspaces this exporter owns (--shard.count, --shard.index).
///
/// Shard i of n owns the workspaces whose WorkspaceShardHash(id) % n == i; rows with
/// no workspace (the shared worker pool, rows skipped for a missing workspace)
/// belong to shard 0.
struct ShardOptions {
  int count = 1;
  int index = 0;
  bool sharded() const { return count > 1; }
};

/// Everything a collector needs from the process, fixed at construction.
struct CollectorContext {
  std::string quoted_schema;  // already quoted, e.g. "public"
  const Clock* clock = nullptr;
  /// Monotonic time for budgets and durations (tests inject a fake one).
  const SteadyClock* steady_clock = &RealSteadyClock::Instance();
  std::chrono::milliseconds timeout = kDefaultCollectorTimeout;
  Logger* logger = nullptr;  // may be null in tests
  /// Live view consumers (the JSON API and WebSocket, issue #12); empty when none.
  LiveViewSink on_live_view;
  PoolLoadSink on_pool_loads;
  /// The workspaces this exporter owns: collectors read only theirs (ShardSql).
  ShardOptions shard;
  /// The rows schema/notify.sql's triggers announced (--db.notify-channel), shared by
  /// the realtime collector (reads only those rows) and the runs collector (reads
  /// agents only when announced); null = no feed, read everything every cycle.
  std::shared_ptr<ChangeFeed> change_feed;
  /// Told the hot standby's replay lag in seconds after each runs cycle (negative:
  /// not a standby, or unknown); empty when nobody asks (readiness, issue #16).
  std::function<void(double)> on_replay_lag;
};

// Self-metrics of the collectors that read rows, one family each, labelled by
// collector: several collectors publish into it and the exposition merges them.

/// Rows or observations a collector skipped as inconsistent, by reason.
inline constexpr FamilySpec kRowsSkippedFamily{"agent_exporter_rows_skipped_total", prometheus::MetricType::Counter,
                                               "Rows or observations skipped because they were inconsistent, by reason.",
                                               {"collector", "reason"}};
/// Rows a collector read, by kind of scan.
inline constexpr FamilySpec kRowsReadFamily{
    "agent_exporter_rows_read_total", prometheus::MetricType::Counter,
    "Rows a collector read from the platform tables, by kind of scan: startup (the day's aggregate input), "
    "incremental (each cycle), sweep (the lateness window), announced (from the oldest time a change feed announced), "
    "day (a past day of the execution patterns).",
    {"collector", "scan"}};
/// Ids an exactly-once collector remembers.
inline constexpr FamilySpec kLedgerEntriesFamily{"agent_exporter_ledger_entries", prometheus::MetricType::Gauge,
                                                 "Ids remembered to count late-committing rows exactly once.",
                                                 {"collector"}};

/// Throws CollectorUnavailable unless table exists in quoted_schema (checked
/// with to_regclass, so a missing table never aborts the transaction).
void RequireTable(pqxx::transaction_base& tx, std::string_view quoted_schema, std::string_view table);

/// Runs sql, which takes the text parameters params ($1, $2, ...: from and to,
/// and whatever else it reads by), through a cursor and hands its rows to
/// each_batch in batches of at most batch_rows, so a large read (the start-up
/// ledger, a sweep of the lateness window) never holds more than one batch in
/// libpq's memory. The cursor, called cursor, lives until tx ends; each cursor
/// name is used once per transaction.
void ForEachBatch(pqxx::transaction_base& tx, std::string_view cursor, std::string_view sql,
                  const std::vector<std::string>& params, size_t batch_rows,
                  const std::function<void(const pqxx::result&)>& each_batch);

/// How SQL classifies one latency observation (LatencyCodeSql): a value >= 0 is the
/// index of its LatencyBuckets() bucket (size() = +Inf); negative values say why the
/// row observes nothing.
enum LatencyCode : int {
  kLatencyNone = -1,      // the row observes no latency (skipped row, run never started)
  kLatencyMissing = -2,   // the value is NULL
  kLatencyInvalid = -3,   // NaN, infinite or above 1e12 s
  kLatencyNegative = -4,  // below 0
};
/// SQL expression (an int) classifying the float8 column `value` as a LatencyCode;
/// `none_when` is a condition under which the row observes nothing. The bucket is
/// the first bound >= value, as ExactHistogram::Observe picks it. `value` is named
/// five times: pass a column, not an expression.
std::string LatencyCodeSql(std::string_view value, std::string_view none_when);
/// SQL: the microseconds (bigint) of the float8 seconds column `value` when its
/// LatencyCode column `code` is a bucket, else NULL.
std::string LatencyMicrosSql(std::string_view value, std::string_view code);
/// SQL: sum of a bigint expression as a bigint, 0 over no rows, capped at INT64_MAX
/// like SaturatingAdd (sum(bigint) is numeric, so it cannot overflow before the cap).
std::string CappedSumSql(std::string_view expr);
/// The skip reason of a negative code other than kLatencyNone; `missing_reason`
/// names kLatencyMissing (the collectors call a NULL latency differently).
std::string LatencySkipReason(int code, std::string_view missing_reason);

}  // namespace aee
