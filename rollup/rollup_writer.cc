#include "rollup/rollup_writer.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <pqxx/pqxx>
#include <stdexcept>

#include "collectors/collector.h"
#include "core/db.h"
#include "core/log.h"

namespace aee::rollup {
namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;

constexpr std::int64_t kSlackUs = DailyWindow::kClockSlackUs;
constexpr std::string_view kWriter = "execution_metrics_minute";
// Sample sums are only needed while a minute can still be re-aggregated (lateness,
// a restart, a backfill soon after); a day is ample and keeps the table small.
constexpr std::int64_t kSampleRetentionUs = 86'400'000'000;

// A latency in milliseconds, rounded half away from zero (numeric round) and held
// at the INTEGER maximum (24.8 days) instead of failing the statement.
std::string Ms(const std::string& expr) { return "least(round((" + expr + ")::numeric), 2147483647)::integer"; }

// Which runs count, and their latencies, decided here alone (docs/rollup.md):
// finished runs (completed, failed, cancelled) of a known workspace, by the UTC
// minute of finished_at. A latency is the column, or when NULL the difference of
// the timestamps (as the runs collector derives it), only for runs that started;
// NULL, NaN, negative or absurd (> 1e12 s) values take no part in that latency.
constexpr std::string_view kAggregateHead = R"SQL(
WITH r AS (
  SELECT r.workspace_id, date_trunc('minute', r.finished_at) AS minute, r.status,
         CASE WHEN r.started_at IS NOT NULL OR r.runtime_seconds IS NOT NULL THEN
           coalesce(r.queue_wait_seconds, CASE WHEN isfinite(r.started_at) AND isfinite(r.queued_at)
                                               THEN date_part('epoch', r.started_at - r.queued_at) END) END AS queue_s,
         CASE WHEN r.started_at IS NOT NULL OR r.runtime_seconds IS NOT NULL THEN
           coalesce(r.runtime_seconds, CASE WHEN isfinite(r.finished_at) AND isfinite(r.started_at)
                                            THEN date_part('epoch', r.finished_at - r.started_at) END) END AS exec_s
  FROM {schema}.agent_runs r
  WHERE r.finished_at >= $1::timestamptz AND r.finished_at < $2::timestamptz
    AND r.status IN ('completed', 'failed', 'cancelled')
    AND r.workspace_id IN (SELECT id FROM {schema}.workspaces)
  OFFSET 0
), v AS (
  SELECT workspace_id, minute, status,
         CASE WHEN queue_s BETWEEN 0 AND 1e12 THEN queue_s * 1000 END AS queue_ms,
         CASE WHEN exec_s BETWEEN 0 AND 1e12 THEN exec_s * 1000 END AS exec_ms
  FROM r
), a AS (
  SELECT workspace_id, minute,
         count(*)::integer AS total,
         (count(*) FILTER (WHERE status = 'completed'))::integer AS successful,
         (count(*) FILTER (WHERE status = 'failed'))::integer AS failed,
)SQL";

constexpr std::string_view kAggregateTail = R"SQL(
  FROM v GROUP BY workspace_id, minute
), s AS (
  SELECT s.* FROM analytics.rollup_samples s
  WHERE s.minute >= $1::timestamptz AND s.minute < $2::timestamptz
    AND s.workspace_id IN (SELECT id FROM {schema}.workspaces)
), sm AS (
  SELECT minute, samples FROM analytics.rollup_sampled_minutes
  WHERE minute >= $1::timestamptz AND minute < $2::timestamptz AND samples > 0
), k AS (
  SELECT workspace_id, minute FROM a UNION SELECT workspace_id, minute FROM s
)
INSERT INTO analytics.execution_metrics_minute AS t
  (workspace_id, minute, total_executions, successful_executions, failed_executions,
   avg_queue_latency, p50_queue_latency, p95_queue_latency,
   avg_execution_latency, p50_execution_latency, p95_execution_latency,
   max_queue_depth, avg_queue_depth, avg_cpu_usage, avg_memory_usage, active_workers)
SELECT k.workspace_id, k.minute, coalesce(a.total, 0), coalesce(a.successful, 0), coalesce(a.failed, 0),
       a.avg_q, a.p50_q, a.p95_q, a.avg_x, a.p50_x, a.p95_x,
       CASE WHEN sm.samples IS NULL THEN 0 ELSE coalesce(s.depth_max, 0) END,
       CASE WHEN sm.samples IS NOT NULL THEN round(coalesce(s.depth_sum, 0)::numeric / sm.samples, 2) END,
       CASE WHEN sm.samples IS NOT NULL AND s.cpu_samples > 0 THEN round((s.cpu_sum / s.cpu_samples)::numeric, 2) END,
       CASE WHEN sm.samples IS NOT NULL AND s.memory_samples > 0 THEN round((s.memory_sum / s.memory_samples)::numeric, 2) END,
       CASE WHEN sm.samples IS NOT NULL THEN coalesce(s.workers_max, 0) END
FROM k
LEFT JOIN a ON a.workspace_id = k.workspace_id AND a.minute = k.minute
LEFT JOIN s ON s.workspace_id = k.workspace_id AND s.minute = k.minute
LEFT JOIN sm ON sm.minute = k.minute
ON CONFLICT (workspace_id, minute) DO UPDATE SET
  total_executions = EXCLUDED.total_executions,
  successful_executions = EXCLUDED.successful_executions,
  failed_executions = EXCLUDED.failed_executions,
  avg_queue_latency = EXCLUDED.avg_queue_latency,
  p50_queue_latency = EXCLUDED.p50_queue_latency,
  p95_queue_latency = EXCLUDED.p95_queue_latency,
  avg_execution_latency = EXCLUDED.avg_execution_latency,
  p50_execution_latency = EXCLUDED.p50_execution_latency,
  p95_execution_latency = EXCLUDED.p95_execution_latency,
  -- A minute nobody sampled here (a backfill after the sample sums expired) keeps
  -- the sampled columns it has; avg_queue_depth is NULL exactly when not sampled.
  max_queue_depth = CASE WHEN EXCLUDED.avg_queue_depth IS NULL THEN t.max_queue_depth ELSE EXCLUDED.max_queue_depth END,
  avg_queue_depth = coalesce(EXCLUDED.avg_queue_depth, t.avg_queue_depth),
  avg_cpu_usage = CASE WHEN EXCLUDED.avg_queue_depth IS NULL THEN t.avg_cpu_usage ELSE EXCLUDED.avg_cpu_usage END,
  avg_memory_usage = CASE WHEN EXCLUDED.avg_queue_depth IS NULL THEN t.avg_memory_usage ELSE EXCLUDED.avg_memory_usage END,
  active_workers = CASE WHEN EXCLUDED.avg_queue_depth IS NULL THEN t.active_workers ELSE EXCLUDED.active_workers END
-- An unchanged minute is not rewritten (no dead row, no WAL): re-aggregating the
-- lateness window mostly finds nothing new.
WHERE (t.total_executions, t.successful_executions, t.failed_executions,
       t.avg_queue_latency, t.p50_queue_latency, t.p95_queue_latency,
       t.avg_execution_latency, t.p50_execution_latency, t.p95_execution_latency)
      IS DISTINCT FROM
      (EXCLUDED.total_executions, EXCLUDED.successful_executions, EXCLUDED.failed_executions,
       EXCLUDED.avg_queue_latency, EXCLUDED.p50_queue_latency, EXCLUDED.p95_queue_latency,
       EXCLUDED.avg_execution_latency, EXCLUDED.p50_execution_latency, EXCLUDED.p95_execution_latency)
   OR (EXCLUDED.avg_queue_depth IS NOT NULL
       AND (t.max_queue_depth, t.avg_queue_depth, t.avg_cpu_usage, t.avg_memory_usage, t.active_workers)
           IS DISTINCT FROM
           (EXCLUDED.max_queue_depth, EXCLUDED.avg_queue_depth, EXCLUDED.avg_cpu_usage,
            EXCLUDED.avg_memory_usage, EXCLUDED.active_workers))
)SQL";

std::string AggregateSql(std::string_view quoted_schema) {
  std::string cols;
  const std::pair<const char*, const char*> latencies[] = {{"q", "queue_ms"}, {"x", "exec_ms"}};
  for (size_t i = 0; i < 2; ++i) {
    const std::string c = latencies[i].second, n = latencies[i].first;
    cols += "         " + Ms("avg(" + c + ")") + " AS avg_" + n + ",\n";
    cols += "         " + Ms("percentile_cont(0.5) WITHIN GROUP (ORDER BY " + c + ")") + " AS p50_" + n + ",\n";
    cols += "         " + Ms("percentile_cont(0.95) WITHIN GROUP (ORDER BY " + c + ")") + " AS p95_" + n +
            (i == 0 ? ",\n" : "\n");
  }
  return WithSchema(std::string(kAggregateHead) + cols + std::string(kAggregateTail), quoted_schema);
}

// One sample: waiting queue entries per workspace (the realtime collector's
// definition of queue depth) and the workspace's own live workers, classified as
// the workers collector does: busy or idle with a heartbeat at or after $1; usage
// outside 0-100 % ignored. Shared-pool workers (workspace_id NULL) belong to no
// workspace and are left out.
constexpr std::string_view kSampleWithWorkers = R"SQL(
WITH q AS (
  SELECT workspace_id, count(*) AS depth FROM {schema}.execution_queue
  WHERE status = 'queued' AND workspace_id IS NOT NULL GROUP BY workspace_id
), w AS (
  SELECT workspace_id, count(*) AS live,
         avg(CASE WHEN cpu_percent BETWEEN 0 AND 100 THEN cpu_percent END) AS cpu,
         avg(CASE WHEN memory_percent BETWEEN 0 AND 100 THEN memory_percent END) AS memory
  FROM {schema}.workers
  WHERE workspace_id IS NOT NULL AND last_heartbeat >= $1::timestamptz AND lower(status) IN ('busy', 'idle')
  GROUP BY workspace_id
)
SELECT coalesce(q.workspace_id, w.workspace_id)::text, coalesce(q.depth, 0), coalesce(w.live, 0), w.cpu, w.memory
FROM q FULL JOIN w ON w.workspace_id = q.workspace_id
)SQL";

constexpr std::string_view kSampleQueueOnly = R"SQL(
SELECT workspace_id::text, count(*), 0, NULL::float8, NULL::float8 FROM {schema}.execution_queue
WHERE status = 'queued' AND workspace_id IS NOT NULL AND $1::timestamptz IS NOT NULL GROUP BY workspace_id
)SQL";

std::string Double(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// Opens the write transaction: the session's default is read-only (DbSession),
// so the rollup says so where it writes.
void BeginWrite(pqxx::transaction_base& tx, std::chrono::milliseconds timeout) {
  tx.exec("SET TRANSACTION READ WRITE");
  SetStatementTimeout(tx, timeout);
}

}  // namespace

RollupWriter::RollupWriter(RollupOptions options, Logger* logger)
    : options_(std::move(options)),
      logger_(logger),
      bound_reader_("rollup", {options_.lateness, options_.sweep_interval}, logger),
      aggregate_sql_(AggregateSql(options_.quoted_schema)) {}

std::int64_t RollupWriter::MinuteStart(std::int64_t us) {
  std::int64_t m = us / kMinuteUs;
  if (us < 0 && us % kMinuteUs != 0) --m;
  return m * kMinuteUs;
}

void RollupWriter::ReadSchema(DbSession& db) {
  if (schema_read_) return;
  pqxx::read_transaction tx(db.Get());
  SetStatementTimeout(tx, options_.timeout);
  for (std::string_view table :
       {"execution_metrics_minute", "rollup_progress", "rollup_samples", "rollup_sampled_minutes"}) {
    const std::string name = "analytics." + std::string(table);
    if (!tx.exec_params1("SELECT to_regclass($1) IS NOT NULL", name)[0].as<bool>()) {
      throw std::runtime_error("table " + name + " does not exist (load schema/analytics.sql, docs/rollup.md)");
    }
  }
  for (std::string_view table : {"agent_runs", "workspaces", "execution_queue"}) {
    RequireTable(tx, options_.quoted_schema, table);
  }
  has_workers_ =
      tx.exec_params1("SELECT to_regclass($1) IS NOT NULL", options_.quoted_schema + ".workers")[0].as<bool>();
  tx.commit();
  sample_sql_ = WithSchema(has_workers_ ? kSampleWithWorkers : kSampleQueueOnly, options_.quoted_schema);
  if (!has_workers_ && options_.sampling && logger_ != nullptr) {
    logger_->Log(LogLevel::kInfo, "no workers table: avg_cpu_usage, avg_memory_usage stay NULL and active_workers 0",
                 {{"schema", options_.quoted_schema}});
  }
  schema_read_ = true;
}

std::uint64_t RollupWriter::Aggregate(DbSession& db, std::int64_t from_us, std::int64_t to_us, bool store_progress) {
  const std::int64_t chunk_us = static_cast<std::int64_t>(std::max(options_.chunk_minutes, 1)) * kMinuteUs;
  std::uint64_t rows = 0;
  for (std::int64_t lo = from_us; lo < to_us; lo += chunk_us) {
    const std::int64_t hi = std::min(to_us, lo + chunk_us);
    pqxx::work tx(db.Get());
    BeginWrite(tx, options_.timeout);
    // Minutes are UTC minutes whatever the role's TimeZone; the percentile sorts of
    // a busy minute (30 000 runs) stay in memory.
    tx.exec("SET LOCAL TimeZone = 'UTC'; SET LOCAL work_mem = '64MB'");
    const pqxx::result r = tx.exec_params(aggregate_sql_, FormatTimestampUs(lo), FormatTimestampUs(hi));
    if (store_progress) {
      tx.exec_params(
          "INSERT INTO analytics.rollup_progress AS p (writer, aggregated_to, updated_at) "
          "VALUES ($1, $2::timestamptz, now()) ON CONFLICT (writer) DO UPDATE SET "
          "aggregated_to = greatest(p.aggregated_to, EXCLUDED.aggregated_to), updated_at = now()",
          std::string(kWriter), FormatTimestampUs(hi));
    }
    tx.commit();
    rows += static_cast<std::uint64_t>(r.affected_rows());
    stats_.minutes_aggregated += static_cast<std::uint64_t>((hi - lo) / kMinuteUs);
  }
  stats_.rows_written += rows;
  stats_.last_from_us = from_us;
  stats_.last_to_us = to_us;
  return rows;
}

void RollupWriter::Cycle(DbSession& db, std::int64_t now_us) {
  ReadSchema(db);
  const std::int64_t lateness_us = duration_cast<microseconds>(options_.lateness).count();
  // Minutes that ended (with the clock slack for application clocks) and, when
  // sampling, whose samples are flushed.
  std::int64_t upper = MinuteStart(now_us - kSlackUs);
  if (options_.sampling && flushed_to_us_ != 0) upper = std::min(upper, flushed_to_us_);

  DailyWindow::Bound bound;
  std::int64_t stored = 0;
  {
    pqxx::read_transaction tx(db.Get());
    SetStatementTimeout(tx, options_.timeout);
    bound = bound_reader_.ReadBound(tx);  // before the rows' snapshot
    if (!started_) {
      const pqxx::result p = tx.exec_params(
          "SELECT (extract(epoch FROM aggregated_to) * 1000000)::bigint FROM analytics.rollup_progress "
          "WHERE writer = $1",
          std::string(kWriter));
      if (!p.empty() && !p[0][0].is_null()) stored = p[0][0].as<std::int64_t>();
    }
    tx.commit();
  }

  std::int64_t from = 0;
  bool sweep = false;
  std::int64_t aggregated_to = aggregated_to_us_;
  if (!started_) {
    // A (re)start does not know which transactions were open while it was away:
    // it re-reads the whole lateness window before its stored progress, then
    // catches up (a first start begins with the lateness window before now; older
    // history is a backfill's job).
    const std::int64_t anchor = stored != 0 ? std::min(stored, upper) : upper;
    from = MinuteStart(anchor - lateness_us - kSlackUs);
    aggregated_to = stored != 0 ? stored : from;
    sweep = true;
  } else {
    // The runs collector's frontier (DailyWindow::NextRange), by whole minutes and
    // without its daily anchor: a minute of yesterday is re-aggregated too.
    from = std::max(bound_us_, last_read_us_ - lateness_us) - kSlackUs;
    sweep = options_.sweep_interval.count() > 0 &&
            now_us - last_sweep_us_ >= duration_cast<microseconds>(options_.sweep_interval).count();
    if (sweep) from = std::min(from, last_sweep_us_ - lateness_us - kSlackUs);
    from = MinuteStart(from);
  }
  from = std::min(from, aggregated_to);  // never skip a minute not aggregated yet
  ++stats_.cycles;
  if (upper <= from) return;  // nothing ended since; the frontier stays as it was
  Aggregate(db, from, upper, true);
  stats_.last_sweep = sweep;

  started_ = true;
  aggregated_to_us_ = std::max(aggregated_to, upper);
  last_read_us_ = now_us;
  bound_us_ = (bound.hidden_sessions || bound.oldest_xact_us == 0) ? now_us : std::min(bound.oldest_xact_us, now_us);
  if (sweep) last_sweep_us_ = now_us;
}

void RollupWriter::Backfill(DbSession& db, std::int64_t from_us, std::int64_t to_us) {
  if (from_us % kMinuteUs != 0 || to_us % kMinuteUs != 0 || to_us <= from_us) {
    throw std::invalid_argument("backfill range must be whole minutes with from < to");
  }
  ReadSchema(db);
  Aggregate(db, from_us, to_us, false);
}

void RollupWriter::Sample(DbSession& db, std::int64_t now_us) {
  ReadSchema(db);
  const std::int64_t minute = MinuteStart(now_us);
  if (flushed_to_us_ == 0) flushed_to_us_ = minute;
  Flush(db, minute);
  const std::int64_t cutoff = now_us - duration_cast<microseconds>(options_.workers_stale_after).count();
  pqxx::result rows;
  {
    pqxx::read_transaction tx(db.Get());
    SetStatementTimeout(tx, options_.timeout);
    rows = tx.exec_params(sample_sql_, FormatTimestampUs(cutoff));
    tx.commit();
  }
  MinuteSamples& m = pending_[minute];
  ++m.samples;
  for (const auto& row : rows) {
    WorkspaceSamples& w = m.workspaces[row[0].as<std::string>()];
    const auto depth = row[1].as<std::int64_t>();
    w.depth_sum += depth;
    w.depth_max = std::max(w.depth_max, depth);
    w.workers_max = std::max(w.workers_max, row[2].as<std::int64_t>());
    if (!row[3].is_null()) {
      ++w.cpu_samples;
      w.cpu_sum += row[3].as<double>();
    }
    if (!row[4].is_null()) {
      ++w.memory_samples;
      w.memory_sum += row[4].as<double>();
    }
  }
  ++stats_.samples;
}

void RollupWriter::Shutdown(DbSession& db) {
  if (pending_.empty()) return;
  Flush(db, pending_.rbegin()->first + kMinuteUs);
}

void RollupWriter::Flush(DbSession& db, std::int64_t before_us) {
  auto end = pending_.lower_bound(before_us);
  if (pending_.begin() != end) {
    pqxx::work tx(db.Get());
    BeginWrite(tx, options_.timeout);
    std::string minutes, workspaces;
    for (auto it = pending_.begin(); it != end; ++it) {
      const std::string minute = tx.quote(FormatTimestampUs(it->first)) + "::timestamptz";
      minutes += (minutes.empty() ? "" : ", ") + ("(" + minute + ", " + std::to_string(it->second.samples) + ")");
      for (const auto& [id, w] : it->second.workspaces) {
        workspaces += (workspaces.empty() ? "" : ", ") +
                      ("(" + tx.quote(id) + "::uuid, " + minute + ", " + std::to_string(w.depth_sum) + ", " +
                       std::to_string(w.depth_max) + ", " + std::to_string(w.cpu_samples) + ", " + Double(w.cpu_sum) +
                       ", " + std::to_string(w.memory_samples) + ", " + Double(w.memory_sum) + ", " +
                       std::to_string(w.workers_max) + ")");
      }
    }
    // Added to what was flushed before for the same minute (a process that stopped
    // in the middle of it), so a minute's average covers every sample taken in it.
    tx.exec("INSERT INTO analytics.rollup_sampled_minutes AS m (minute, samples) VALUES " + minutes +
            " ON CONFLICT (minute) DO UPDATE SET samples = m.samples + EXCLUDED.samples");
    if (!workspaces.empty()) {
      tx.exec(
          "INSERT INTO analytics.rollup_samples AS s (workspace_id, minute, depth_sum, depth_max, cpu_samples, "
          "cpu_sum, memory_samples, memory_sum, workers_max) VALUES " +
          workspaces +
          " ON CONFLICT (minute, workspace_id) DO UPDATE SET depth_sum = s.depth_sum + EXCLUDED.depth_sum, "
          "depth_max = greatest(s.depth_max, EXCLUDED.depth_max), cpu_samples = s.cpu_samples + EXCLUDED.cpu_samples, "
          "cpu_sum = s.cpu_sum + EXCLUDED.cpu_sum, memory_samples = s.memory_samples + EXCLUDED.memory_samples, "
          "memory_sum = s.memory_sum + EXCLUDED.memory_sum, workers_max = greatest(s.workers_max, "
          "EXCLUDED.workers_max)");
    }
    const std::string expired = FormatTimestampUs(pending_.begin()->first - kSampleRetentionUs);
    tx.exec_params("DELETE FROM analytics.rollup_samples WHERE minute < $1::timestamptz", expired);
    tx.exec_params("DELETE FROM analytics.rollup_sampled_minutes WHERE minute < $1::timestamptz", expired);
    tx.commit();
    pending_.erase(pending_.begin(), end);
  }
  flushed_to_us_ = std::max(flushed_to_us_, before_us);
}

}  // namespace aee::rollup
