#include "collectors/realtime_collector.h"

#include <openssl/hmac.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cctype>
#include <cstdlib>
#include <map>
#include <tuple>
#include <type_traits>

#include <pqxx/pqxx>

#include "collectors/options.h"
#include "collectors/scope.h"
#include "core/db.h"
#include "core/log.h"

namespace aee {
namespace {

using prometheus::MetricType;

constexpr FamilySpec kRunning{"agent_runs_running", MetricType::Gauge,
                              "Runs with status running.", {"workspace_id"}};
constexpr FamilySpec kQueueDepth{"agent_queue_depth", MetricType::Gauge,
                                 "Execution queue entries waiting (status queued).", {"workspace_id"}};
constexpr FamilySpec kQueueWaitAvg{"agent_queue_wait_seconds_avg", MetricType::Gauge,
                                   "Mean age of the waiting queue entries; 0 when none wait.",
                                   {"workspace_id"}};
constexpr FamilySpec kQueueOldest{"agent_queue_oldest_age_seconds", MetricType::Gauge,
                                  "Age of the oldest waiting queue entry; 0 when none wait.",
                                  {"workspace_id"}};
constexpr FamilySpec kElapsed{"agent_run_elapsed_seconds", MetricType::Gauge,
                              "Time since start of the longest-running runs of each workspace "
                              "(--collector.realtime.top-runs per workspace).",
                              {"workspace_id", "agent_id", "run_id"}};

constexpr FamilySpec kEstimated{"agent_run_estimated_runtime_seconds", MetricType::Gauge,
                                "estimated_runtime of the runs listed in agent_run_elapsed_seconds (when set).",
                                {"workspace_id", "agent_id", "run_id"}};
constexpr FamilySpec kOverdue{"agent_runs_overdue", MetricType::Gauge,
                              "Running runs that have run longer than --collector.realtime.overdue-factor "
                              "times their estimated_runtime.",
                              {"workspace_id"}};

constexpr std::array<FamilySpec, 7> kFamilies = {kRunning, kQueueDepth, kQueueWaitAvg, kQueueOldest,
                                                 kElapsed, kEstimated, kOverdue};

// Everything in one statement, so one round trip and one snapshot: running + queued
// never double-counts a run dispatched in between. The running rows and the waiting
// rows are each read once (a CTE used twice is materialized), for the counts and for
// the lists.
// Rows (12 columns):
//   ('w', workspace, name, -, running, overdue, queue depth, mean wait, oldest wait)
//     for every workspace;
//   ('t', workspace, agent, run, elapsed, estimated, started_at (us), -, -, agent name,
//     user, rank) for the $3 longest-running runs of each workspace;
//   ('q', workspace, agent, queue entry, wait, priority, queued_at (us), estimated
//     start (us), -, agent name, -, position) for the first $4 entries of each queue
//     in dequeue order (none when $4 = 0: no live view).
// {user} is NULL unless --api.user-id asks for the column; {order} the dequeue order.
// Sharded, {owned} materializes the shard's workspace ids once (OwnedWorkspacesSql:
// the hash once per workspace) and every {shard:...} test reads them.
//
// Two shapes are chosen for the planner's sake (docs/benchmarks.md, "The realtime
// statement at 2 000 workspaces"):
// - The 'w' rows group one list of the workspaces, the counts and the queue figures
//   by workspace instead of joining them: the planner estimates a shard's owned set
//   at 0.5 % of the workspaces (it has no statistics on the hash), and on that
//   estimate joined the counts by nested loop, comparing every owned workspace with
//   every count (109 000 comparisons at 2 000 workspaces and 4 shards).
// - The two lists join the agents (for their names) once, not once each: each join
//   hashes the whole agents table.
constexpr std::string_view kRealtimeSql = R"SQL(
WITH {owned}running AS (
  SELECT workspace_id, agent_id, run_id, started_at, estimated_runtime, {user} AS user_id
  FROM {schema}.agent_runs
  WHERE status = 'running' AND workspace_id IS NOT NULL AND {shard:workspace_id}
), queued AS (
  SELECT workspace_id, agent_id, queue_id, priority, queued_at, estimated_start_time
  FROM {schema}.execution_queue
  WHERE status = 'queued' AND workspace_id IS NOT NULL AND {shard:workspace_id}
), counts AS (
  SELECT workspace_id, count(*) AS n,
         count(*) FILTER (WHERE estimated_runtime > 0 AND started_at IS NOT NULL
                          AND isfinite(started_at)
                          AND extract(epoch FROM $1::timestamptz - started_at) > $2 * estimated_runtime) AS overdue
  FROM running GROUP BY 1
), queue AS (
  SELECT workspace_id, count(*) AS n,
         avg(greatest(extract(epoch FROM $1::timestamptz - queued_at), 0)) FILTER (WHERE isfinite(queued_at)) AS wait_avg,
         max(greatest(extract(epoch FROM $1::timestamptz - queued_at), 0)) FILTER (WHERE isfinite(queued_at)) AS oldest
  FROM queued GROUP BY 1
), top AS (
  SELECT workspace_id, agent_id, run_id, started_at, estimated_runtime, user_id,
         row_number() OVER (PARTITION BY workspace_id ORDER BY started_at, run_id) AS rank
  FROM running WHERE started_at IS NOT NULL
), waiting AS (
  SELECT workspace_id, agent_id, queue_id, priority, queued_at, estimated_start_time,
         row_number() OVER (PARTITION BY workspace_id ORDER BY {order}) AS position
  FROM queued WHERE $4 > 0
), listed AS (
  SELECT 't' AS kind, t.workspace_id, t.agent_id, t.run_id::text AS id,
         CASE WHEN isfinite(t.started_at) THEN greatest(extract(epoch FROM $1::timestamptz - t.started_at), 0) ELSE 0 END::float8 AS age,
         t.estimated_runtime::float8 AS figure,
         CASE WHEN isfinite(t.started_at) THEN floor(extract(epoch FROM t.started_at) * 1000000) END::float8 AS since_us,
         NULL::float8 AS estimated_start_us, t.user_id, t.rank AS place
  FROM top t WHERE t.rank <= $3
  UNION ALL
  SELECT 'q', e.workspace_id, e.agent_id, e.queue_id::text,
         CASE WHEN isfinite(e.queued_at) THEN greatest(extract(epoch FROM $1::timestamptz - e.queued_at), 0) ELSE 0 END::float8,
         e.priority::float8,
         CASE WHEN isfinite(e.queued_at) THEN floor(extract(epoch FROM e.queued_at) * 1000000) END::float8,
         CASE WHEN isfinite(e.estimated_start_time) THEN floor(extract(epoch FROM e.estimated_start_time) * 1000000) END::float8,
         NULL, e.position
  FROM waiting e WHERE e.position <= $4
)
SELECT 'w', f.id::text, max(f.name), NULL::text,
       sum(f.running)::float8, sum(f.overdue)::float8,
       sum(f.depth)::float8, coalesce(max(f.wait_avg), 0)::float8, coalesce(max(f.oldest), 0)::float8,
       NULL::text, NULL::text, NULL::int8
FROM (
  SELECT w.id, w.name, 0::int8 AS running, 0::int8 AS overdue, 0::int8 AS depth,
         NULL::numeric AS wait_avg, NULL::numeric AS oldest, true AS listed
  FROM {schema}.workspaces w WHERE {shard:w.id}
  UNION ALL
  SELECT workspace_id, NULL, n, overdue, 0, NULL, NULL, false FROM counts
  UNION ALL
  SELECT workspace_id, NULL, 0, 0, n, wait_avg, oldest, false FROM queue
) f
GROUP BY f.id HAVING bool_or(f.listed)
UNION ALL
SELECT l.kind, l.workspace_id::text, coalesce(l.agent_id::text, ''), l.id, l.age, l.figure, l.since_us,
       l.estimated_start_us, NULL, a.name, l.user_id, l.place
FROM listed l LEFT JOIN {schema}.agents a ON a.id = l.agent_id
)SQL";

// "owned AS MATERIALIZED (<the shard's workspace ids>)" followed by sep when sharded.
std::string OwnedCte(const std::string& quoted_schema, const ShardOptions& shard, std::string_view sep) {
  if (!shard.sharded()) return "";
  return "owned AS MATERIALIZED (" + OwnedWorkspacesSql(quoted_schema, shard) + ")" + std::string(sep);
}

// A workspaces row's own test against the owned CTE (it is in workspaces by definition).
std::string OwnedWorkspaceSql(const std::string& id, const ShardOptions& shard) {
  if (!shard.sharded()) return "TRUE";
  return "EXISTS (SELECT 1 FROM owned ow WHERE ow.id = " + id + ")";
}

std::string RealtimeSql(const std::string& quoted_schema, const RealtimeCollectorOptions& o, const ShardOptions& shard) {
  std::string sql = WithSchema(kRealtimeSql, quoted_schema);
  auto replace = [&](std::string_view token, std::string_view with) {
    for (size_t at = sql.find(token); at != std::string::npos; at = sql.find(token, at + with.size())) {
      sql.replace(at, token.size(), with);
    }
  };
  replace("{owned}", OwnedCte(quoted_schema, shard, ",\n"));
  replace("{shard:workspace_id}", WorkspaceShardSql("workspace_id", quoted_schema, shard, "owned"));
  replace("{shard:w.id}", OwnedWorkspaceSql("w.id", shard));
  replace("{user}", o.live_cap > 0 && o.user_id != UserIdMode::kOmit ? "user_id::text" : "NULL::text");
  replace("{order}", o.queue_fifo ? "queued_at NULLS LAST, queue_id"
                                  : "priority DESC, queued_at NULLS LAST, queue_id");
  return sql;
}

struct QueueStats {
  double depth = 0;
  double wait_avg = 0;
  double oldest = 0;
};

// The incremental path (a change feed): the raw running and waiting rows, read all
// at once (resync) or by primary key (the rows announced since the last sample).
// Every figure is then computed from them at the sample's time exactly as
// kRealtimeSql computes it. Rows (11 columns):
//   ('w', workspace, -, -, name, ...) for every workspace;
//   ('r', run, workspace, agent, agent name, started kind, started (us), estimated,
//     user, -, -) for running runs;
//   ('q', entry, workspace, agent, agent name, queued kind, queued (us), priority, -,
//     estimated start kind, estimated start (us)) for waiting entries.
// A time's kind is RealtimeCollector::Time::Kind (0 -infinity, 1 finite, 2 infinity,
// 3 NULL). {runs} and {queue} are the tables, or (announced rows) only the rows
// whose ids are in $1 / $2, read by primary key first: with the status test beside
// the ids the planner walks the partial running/waiting index instead, a cost that
// grows with the running set (353 running rows: 351 buffers a call against 24).
// {name} is the agent's name, NULL without a live view: the running and the waiting
// rows join the agents once, as in kRealtimeSql.
constexpr std::string_view kRowsSql = R"SQL(
{with}
SELECT 'w', w.id::text, NULL::text, NULL::text, w.name, NULL::int, NULL::int8, NULL::float8, NULL::text, NULL::int, NULL::int8
FROM {schema}.workspaces w
WHERE {workspaces} AND {shard:w.id}
UNION ALL
SELECT x.kind, x.id, x.workspace_id::text, coalesce(x.agent_id::text, ''), {name},
       x.since_kind, x.since_us, x.figure, x.user_id, x.start_kind, x.start_us
FROM (
  SELECT 'r' AS kind, r.run_id::text AS id, r.workspace_id, r.agent_id,
         {kind:r.started_at} AS since_kind, {us:r.started_at} AS since_us, r.estimated_runtime::float8 AS figure,
         {user} AS user_id, NULL::int AS start_kind, NULL::int8 AS start_us
  FROM {runs} r
  WHERE r.status = 'running' AND r.workspace_id IS NOT NULL AND {shard:r.workspace_id}
  UNION ALL
  SELECT 'q', e.queue_id::text, e.workspace_id, e.agent_id,
         {kind:e.queued_at}, {us:e.queued_at}, e.priority::float8, NULL,
         {kind:e.estimated_start_time}, {us:e.estimated_start_time}
  FROM {queue} e
  WHERE e.status = 'queued' AND e.workspace_id IS NOT NULL AND {shard:e.workspace_id}
) x {join}
)SQL";

// The incremental path trusts notifications only while every trigger of
// schema/notify.sql is in place, enabled and names our channel ($1), and the
// session reads the primary (a standby may not have replayed an announced commit
// yet when the collector reads the row).
constexpr std::string_view kTriggersSql = R"SQL(
SELECT NOT pg_is_in_recovery() AND count(*) = 10
FROM pg_trigger t
JOIN (VALUES ('agent_runs', 'agent_execution_notify'), ('agent_runs', 'agent_execution_notify_insert'),
             ('agent_runs', 'agent_execution_notify_update'), ('agent_runs', 'agent_execution_notify_delete'),
             ('execution_queue', 'agent_execution_notify'), ('execution_queue', 'agent_execution_notify_insert'),
             ('execution_queue', 'agent_execution_notify_update'), ('execution_queue', 'agent_execution_notify_delete'),
             ('agents', 'agent_execution_notify'), ('workspaces', 'agent_execution_notify')) AS want(rel, name)
  ON t.tgname = want.name AND t.tgrelid = to_regclass('{schema}.' || quote_ident(want.rel))
WHERE t.tgenabled IN ('O', 'A') AND t.tgnargs >= 1
  AND split_part(encode(t.tgargs, 'escape'), '\000', 1) = $1
)SQL";

std::string Replace(std::string sql, std::string_view token, std::string_view with) {
  for (size_t at = sql.find(token); at != std::string::npos; at = sql.find(token, at + with.size())) {
    sql.replace(at, token.size(), with);
  }
  return sql;
}

std::string RowsSql(const std::string& quoted_schema, const RealtimeCollectorOptions& o, const ShardOptions& shard,
                    bool changed_only) {
  std::string sql(kRowsSql);
  // The announced rows are a few: their own hash is cheaper than every workspace's
  // (and the 'w' rows are not read). A resync reads every running and waiting row.
  sql = Replace(sql, "{shard:w.id}", changed_only ? ShardSql("w.id", shard) : OwnedWorkspaceSql("w.id", shard));
  for (const char* alias : {"r.workspace_id", "e.workspace_id"}) {
    sql = Replace(sql, std::string("{shard:") + alias + "}",
                  changed_only ? ShardSql(alias, shard) : WorkspaceShardSql(alias, quoted_schema, shard, "owned"));
  }
  for (const char* column : {"r.started_at", "e.queued_at", "e.estimated_start_time"}) {
    const std::string c = column;
    sql = Replace(sql, "{kind:" + c + "}",
                  "CASE WHEN " + c + " IS NULL THEN 3 WHEN isfinite(" + c + ") THEN 1 WHEN " + c +
                      " < 'epoch' THEN 0 ELSE 2 END");
    sql = Replace(sql, "{us:" + c + "}",
                  "CASE WHEN isfinite(" + c + ") THEN floor(extract(epoch FROM " + c + ") * 1000000)::int8 END");
  }
  const bool live = o.live_cap > 0;
  sql = Replace(sql, "{name}", live ? "a.name" : "NULL::text");
  sql = Replace(sql, "{join}", live ? "LEFT JOIN {schema}.agents a ON a.id = x.agent_id" : "");
  sql = Replace(sql, "{user}", live && o.user_id != UserIdMode::kOmit ? "r.user_id::text" : "NULL::text");
  sql = Replace(sql, "{workspaces}", changed_only ? "false" : "true");
  const std::string owned = OwnedCte(quoted_schema, shard, "");
  sql = Replace(sql, "{with}",
                changed_only ? "WITH announced_runs AS MATERIALIZED "
                               "(SELECT * FROM {schema}.agent_runs WHERE run_id = ANY($1::uuid[])),\n"
                               "announced_queue AS MATERIALIZED "
                               "(SELECT * FROM {schema}.execution_queue WHERE queue_id = ANY($2::uuid[]))"
                             : owned.empty() ? "" : "WITH " + owned);
  sql = Replace(sql, "{runs}", changed_only ? "announced_runs" : "{schema}.agent_runs");
  sql = Replace(sql, "{queue}", changed_only ? "announced_queue" : "{schema}.execution_queue");
  return WithSchema(sql, quoted_schema);
}

// A PostgreSQL array literal of ids already checked to be UUIDs.
std::string ArrayLiteral(const std::vector<std::string>& ids) {
  std::string out = "{";
  for (const auto& id : ids) {
    if (out.size() > 1) out += ',';
    out += id;
  }
  return out + "}";
}

RealtimeCollector::Time ReadTime(const pqxx::field& kind, const pqxx::field& us) {
  RealtimeCollector::Time t;
  t.kind = static_cast<RealtimeCollector::Time::Kind>(kind.as<int>());
  if (t.kind == RealtimeCollector::Time::kFinite) t.us = us.as<std::int64_t>();
  return t;
}

bool Before(const RealtimeCollector::Time& a, const RealtimeCollector::Time& b) {
  return std::tie(a.kind, a.us) < std::tie(b.kind, b.us);
}

// greatest(extract(epoch FROM now - t), 0) as kRealtimeSql computes it for a finite
// t: the exact microsecond difference, correctly rounded to a double.
double AgeSeconds(std::int64_t now_us, std::int64_t t_us) {
  return std::max(static_cast<double>(now_us - t_us) / 1e6, 0.0);
}

// avg(x)::float8 of n numeric values x with six decimals whose exact sum is
// sum_us / 1e6, as PostgreSQL computes it: numeric_div (select_div_scale picks the
// scale: at least 16 significant digits), rounded half away from zero, then
// converted to the nearest double. Dividing in doubles could differ in the last bit.
double NumericAvgSeconds(__int128 sum_us, std::int64_t n) {
  if (sum_us <= 0 || n <= 0) return 0;
  // Weights and leading digits in PostgreSQL's base 10000; sum_us * 100 counts
  // units of 10000^-2.
  __int128 d1 = sum_us * 100;
  int w1 = -2;
  while (d1 >= 10000) {
    d1 /= 10000;
    ++w1;
  }
  std::int64_t d2 = n;
  int w2 = 0;
  while (d2 >= 10000) {
    d2 /= 10000;
    ++w2;
  }
  int qweight = w1 - w2;
  if (d1 < d2) --qweight;
  const int rscale = std::clamp(16 - qweight * 4, 6, 1000);
  __int128 num = sum_us;
  constexpr __int128 kLimit = (static_cast<__int128>(1) << 120) / 10;
  for (int i = 0; i < rscale - 6; ++i) {
    if (num > kLimit) return static_cast<double>(sum_us) / 1e6 / static_cast<double>(n);  // beyond any real queue
    num *= 10;
  }
  const __int128 q = (2 * num + n) / (2 * static_cast<__int128>(n));
  std::string digits;
  for (__int128 v = q; v > 0; v /= 10) digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
  if (digits.size() <= static_cast<size_t>(rscale)) digits.insert(0, rscale + 1 - digits.size(), '0');
  digits.insert(digits.size() - rscale, 1, '.');
  return std::strtod(digits.c_str(), nullptr);
}

}  // namespace

std::string HashUserId(std::string_view key, std::string_view user_id) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(user_id.data()),
       user_id.size(), digest, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < std::min(len, 16u); ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

RealtimeCollector::RealtimeCollector(CollectorContext ctx, RealtimeCollectorOptions options)
    : ctx_(std::move(ctx)), options_(std::move(options)) {
  // Without a consumer there is no live view to read for.
  if (!ctx_.on_live_view) options_.live_cap = 0;
  sql_ = RealtimeSql(ctx_.quoted_schema, options_, ctx_.shard);
  resync_sql_ = RowsSql(ctx_.quoted_schema, options_, ctx_.shard, false);
  changed_sql_ = RowsSql(ctx_.quoted_schema, options_, ctx_.shard, true);
  triggers_sql_ = WithSchema(kTriggersSql, ctx_.quoted_schema);
  agent_names_sql_ =
      WithSchema("SELECT a.id::text, a.name FROM {schema}.agents a WHERE a.id = ANY($1::uuid[])", ctx_.quoted_schema);
}

std::span<const FamilySpec> RealtimeCollector::Families() { return kFamilies; }

Snapshot RealtimeCollector::Collect(DbSession& db) {
  const std::int64_t now_us = ToUnixMicros(ctx_.clock->Now());
  ChangeFeed* feed = ctx_.change_feed.get();
  if (feed == nullptr || options_.resync_interval.count() <= 0) return CollectAll(db, now_us);
  // Taken before anything is read: a change committed after this is announced
  // again and read by the next sample, whatever this one saw of it.
  const ChangeFeed::Changes changes = feed->Take();
  // Names read from here on are at least as new as this generation; a different
  // one means an agent may have changed since the cached names were read.
  const std::uint64_t generation = feed->agents_generation();
  if (!feed->Trusted() || generation != names_generation_) {
    agent_names_.clear();
    names_generation_ = generation;
  }
  const std::int64_t resync_us = std::chrono::duration_cast<std::chrono::microseconds>(options_.resync_interval).count();
  const bool resync = !cache_valid_ || !changes.complete || now_us - last_resync_us_ >= resync_us ||
                      now_us < last_resync_us_;
  if (resync) {
    if (!FeedUsable(db, now_us, resync_us)) {
      cache_valid_ = false;
      return CollectAll(db, now_us);
    }
    cache_valid_ = false;  // until the read succeeds
    Resync(db);
    last_resync_us_ = now_us;
    cache_valid_ = true;
    ++full_reads_;
  } else {
    cache_valid_ = false;  // the announced ids are gone if the read fails
    ApplyChanges(db, changes);
    cache_valid_ = true;
    ++incremental_reads_;
  }
  return FromCache(now_us);
}

bool RealtimeCollector::FeedUsable(DbSession& db, std::int64_t now_us, std::int64_t recheck_us) {
  if (triggers_checked_us_ && now_us >= *triggers_checked_us_ && now_us - *triggers_checked_us_ < recheck_us) {
    return triggers_ok_;
  }
  db.Prepare("realtime_triggers", triggers_sql_);
  const pqxx::result r = db.ExecPrepared("realtime_triggers", ctx_.timeout, ctx_.change_feed->channel());
  const bool ok = !r.empty() && r[0][0].as<bool>();
  if (ok != triggers_ok_ && ctx_.logger != nullptr) {
    ctx_.logger->Log(ok ? LogLevel::kInfo : LogLevel::kWarn,
                     ok ? "realtime: schema/notify.sql's triggers are in place; reading only announced rows"
                        : "realtime: schema/notify.sql's triggers are missing, disabled or name another channel, or "
                          "the database is a standby; reading every running and waiting row each sample",
                     {{"channel", ctx_.change_feed->channel()}});
  }
  triggers_ok_ = ok;
  triggers_checked_us_ = now_us;
  ctx_.change_feed->SetTriggersVerified(ok);
  return ok;
}

namespace {

RealtimeCollector::CachedRun RunFromRow(const pqxx::row& row) {
  RealtimeCollector::CachedRun run;
  run.workspace = row[2].as<std::string>();
  run.agent = row[3].as<std::string>();
  if (!row[4].is_null()) run.agent_name = row[4].as<std::string>();
  run.started = ReadTime(row[5], row[6]);
  if (!row[7].is_null()) run.estimated = row[7].as<double>();
  if (!row[8].is_null()) run.user = row[8].as<std::string>();
  return run;
}

RealtimeCollector::CachedEntry EntryFromRow(const pqxx::row& row) {
  RealtimeCollector::CachedEntry e;
  e.workspace = row[2].as<std::string>();
  e.agent = row[3].as<std::string>();
  if (!row[4].is_null()) e.agent_name = row[4].as<std::string>();
  e.queued = ReadTime(row[5], row[6]);
  if (!row[7].is_null()) e.priority = row[7].as<double>();
  e.estimated_start = ReadTime(row[9], row[10]);
  return e;
}

}  // namespace

void RealtimeCollector::Resync(DbSession& db) {
  db.Prepare("realtime_rows", resync_sql_);
  const pqxx::result rows = db.ExecPrepared("realtime_rows", ctx_.timeout);
  workspaces_.clear();
  runs_.clear();
  queue_.clear();
  const bool live = options_.live_cap > 0;  // names are read (and needed) for a live view only
  for (const auto& row : rows) {
    const char kind = row[0].c_str()[0];
    if (kind == 'w') {
      workspaces_[row[1].as<std::string>()] = row[4].is_null() ? "" : row[4].as<std::string>();
    } else if (kind == 'r') {
      const CachedRun& run = runs_[row[1].as<std::string>()] = RunFromRow(row);
      if (live) agent_names_[run.agent] = run.agent_name;
    } else if (kind == 'q') {
      const CachedEntry& entry = queue_[row[1].as<std::string>()] = EntryFromRow(row);
      if (live) agent_names_[entry.agent] = entry.agent_name;
    }
  }
}

namespace {

// The fields of an announced state (schema/notify.sql), ';'-separated.
std::vector<std::string_view> Fields(std::string_view state) {
  std::vector<std::string_view> out;
  for (size_t at = 0;;) {
    const size_t semi = state.find(';', at);
    out.push_back(state.substr(at, semi - at));
    if (semi == std::string_view::npos) return out;
    at = semi + 1;
  }
}

// "n" NULL, "-" / "+" -infinity / infinity, else Unix microseconds.
bool ParseTime(std::string_view s, RealtimeCollector::Time* t) {
  using Time = RealtimeCollector::Time;
  if (s == "n" || s == "-" || s == "+") {
    t->kind = s == "n" ? Time::kNull : s == "-" ? Time::kMinusInfinity : Time::kPlusInfinity;
    return true;
  }
  const std::optional<std::int64_t> us = NotifyMicros(s);
  if (!us) return false;
  t->kind = Time::kFinite;
  t->us = *us;
  return true;
}

// float8 text (shortest exact, "NaN", "Infinity"); empty: NULL.
bool ParseNumber(std::string_view s, std::optional<double>* v) {
  if (s.empty()) {
    v->reset();
    return true;
  }
  double d = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec != std::errc() || end != s.data() + s.size()) return false;
  *v = d;
  return true;
}

// An agent_id as the SQL sends it: a uuid, or "" for NULL.
bool ParseAgent(std::string_view s, std::string* agent) {
  if (!s.empty() && (s.size() != 36 || s.find_first_not_of("0123456789abcdef-") != std::string_view::npos)) return false;
  agent->assign(s);
  return true;
}

// "<agent>;<started_at>;<estimated_runtime>"
bool ParseRun(std::string_view state, RealtimeCollector::CachedRun* run) {
  const auto f = Fields(state);
  return f.size() == 3 && ParseAgent(f[0], &run->agent) && ParseTime(f[1], &run->started) &&
         ParseNumber(f[2], &run->estimated);
}

// "<agent>;<queued_at>;<priority>;<estimated_start_time>"
bool ParseEntry(std::string_view state, RealtimeCollector::CachedEntry* entry) {
  const auto f = Fields(state);
  return f.size() == 4 && ParseAgent(f[0], &entry->agent) && ParseTime(f[1], &entry->queued) &&
         ParseNumber(f[2], &entry->priority) && ParseTime(f[3], &entry->estimated_start);
}

}  // namespace

void RealtimeCollector::ApplyChanges(DbSession& db, const ChangeFeed::Changes& changes) {
  std::vector<std::string> read_runs = changes.runs, read_queue = changes.queue;
  const bool live = options_.live_cap > 0;
  // Payloads never carry user_id: a live view that shows it reads the runs instead.
  const bool runs_need_read = live && options_.user_id != UserIdMode::kOmit;
  std::vector<std::pair<std::string*, const std::string*>> unnamed;  // a name to fill, its agent
  auto apply = [&](const auto& stated, auto& cache, auto parse, std::vector<std::string>& read) {
    for (const auto& s : stated) {
      if (s.state == "~") continue;  // an update that changed nothing shown here
      if (s.state[0] == '-') {  // not running / waiting ("-<finished_at>" for a run), or gone
        cache.erase(s.id);
        ++announced_states_applied_;
        continue;
      }
      typename std::remove_reference_t<decltype(cache)>::mapped_type row;
      if (!parse(s.state, &row)) {
        read.push_back(s.id);  // not a state this version knows: the row itself is read
        continue;
      }
      row.workspace = s.workspace;
      auto& cached = cache[s.id] = std::move(row);
      if (live && !cached.agent.empty()) unnamed.emplace_back(&cached.agent_name, &cached.agent);
      ++announced_states_applied_;
    }
  };
  if (runs_need_read) {
    for (const auto& s : changes.run_states) read_runs.push_back(s.id);  // "~" too: user_id may have changed
  } else {
    apply(changes.run_states, runs_, ParseRun, read_runs);
  }
  apply(changes.queue_states, queue_, ParseEntry, read_queue);
  if (!unnamed.empty()) {
    std::vector<std::string> agents;
    for (const auto& [name, agent] : unnamed) {
      if (!agent_names_.contains(*agent)) agents.push_back(*agent);
    }
    if (!agents.empty()) ReadAgentNames(db, agents);
    for (const auto& [name, agent] : unnamed) *name = agent_names_[*agent];
  }
  if (!read_runs.empty() || !read_queue.empty()) ReadChanged(db, read_runs, read_queue);
}

void RealtimeCollector::ReadAgentNames(DbSession& db, const std::vector<std::string>& agents) {
  std::vector<std::string> ids = agents;
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  db.Prepare("realtime_agent_names", agent_names_sql_);
  const pqxx::result rows = db.ExecPrepared("realtime_agent_names", ctx_.timeout, ArrayLiteral(ids));
  for (const auto& id : ids) agent_names_[id];  // no such agent: no name, as the SQL's LEFT JOIN
  for (const auto& row : rows) agent_names_[row[0].as<std::string>()] = row[1].is_null() ? "" : row[1].as<std::string>();
  agent_names_read_ += ids.size();
}

void RealtimeCollector::ReadChanged(DbSession& db, const std::vector<std::string>& runs,
                                    const std::vector<std::string>& queue) {
  db.Prepare("realtime_changed", changed_sql_);
  const pqxx::result rows = db.ExecPrepared("realtime_changed", ctx_.timeout, ArrayLiteral(runs), ArrayLiteral(queue));
  announced_rows_read_ += runs.size() + queue.size();
  // An announced row that is no longer running or waiting (finished, dispatched,
  // deleted, moved to another shard) leaves the cache; the others are replaced.
  for (const auto& id : runs) runs_.erase(id);
  for (const auto& id : queue) queue_.erase(id);
  for (const auto& row : rows) {
    const char kind = row[0].c_str()[0];
    if (kind == 'r') {
      runs_[row[1].as<std::string>()] = RunFromRow(row);
    } else if (kind == 'q') {
      queue_[row[1].as<std::string>()] = EntryFromRow(row);
    }
  }
}

Snapshot RealtimeCollector::FromCache(std::int64_t now_us) const {
  struct Workspace {
    double running = 0, overdue = 0, depth = 0, oldest = 0;
    __int128 wait_sum_us = 0;
    std::int64_t waits = 0;
    std::vector<std::pair<const std::string*, const CachedRun*>> top;
    std::vector<std::pair<const std::string*, const CachedEntry*>> waiting;
  };
  std::map<std::string, Workspace> by_ws;
  for (const auto& [id, name] : workspaces_) by_ws[id];
  const int live_cap = options_.live_cap;
  for (const auto& [id, run] : runs_) {
    auto it = by_ws.find(run.workspace);
    if (it == by_ws.end()) continue;  // no such workspace (yet): not counted, as in SQL
    Workspace& ws = it->second;
    ws.running += 1;
    if (run.started.kind == Time::kFinite) {
      const double elapsed = static_cast<double>(now_us - run.started.us) / 1e6;
      if (run.estimated && *run.estimated > 0 && elapsed > options_.overdue_factor * *run.estimated) ws.overdue += 1;
    }
    if (run.started.kind != Time::kNull) ws.top.emplace_back(&id, &run);
  }
  for (const auto& [id, entry] : queue_) {
    auto it = by_ws.find(entry.workspace);
    if (it == by_ws.end()) continue;
    Workspace& ws = it->second;
    ws.depth += 1;
    if (entry.queued.kind == Time::kFinite) {
      const std::int64_t wait_us = std::max<std::int64_t>(now_us - entry.queued.us, 0);
      ws.wait_sum_us += wait_us;
      ++ws.waits;
      ws.oldest = std::max(ws.oldest, AgeSeconds(now_us, entry.queued.us));
    }
    if (live_cap > 0) ws.waiting.emplace_back(&id, &entry);
  }

  FamilyBuilder running_f(kRunning), depth(kQueueDepth), wait(kQueueWaitAvg), oldest(kQueueOldest),
      elapsed(kElapsed), estimated(kEstimated), overdue_f(kOverdue);
  auto view = live_cap > 0 ? std::make_shared<LiveView>() : nullptr;
  if (view) view->sampled_at_us = now_us;
  for (auto& [ws_id, ws] : by_ws) {
    const double wait_avg = NumericAvgSeconds(ws.wait_sum_us, ws.waits);
    running_f.Add({ws_id}, ws.running);
    overdue_f.Add({ws_id}, ws.overdue);
    depth.Add({ws_id}, ws.depth);
    wait.Add({ws_id}, wait_avg);
    oldest.Add({ws_id}, ws.oldest);
    // Longest-running first: ORDER BY started_at, run_id.
    const size_t keep = static_cast<size_t>(std::max(options_.top_runs, live_cap));
    auto by_start = [](const auto& a, const auto& b) {
      return Before(a.second->started, b.second->started) ||
             (!Before(b.second->started, a.second->started) && *a.first < *b.first);
    };
    if (ws.top.size() > keep) {
      std::partial_sort(ws.top.begin(), ws.top.begin() + static_cast<std::ptrdiff_t>(keep), ws.top.end(), by_start);
      ws.top.resize(keep);
    } else {
      std::sort(ws.top.begin(), ws.top.end(), by_start);
    }
    for (size_t rank = 0; rank < ws.top.size(); ++rank) {
      if (rank >= static_cast<size_t>(options_.top_runs)) break;
      const auto& [run_id, run] = ws.top[rank];
      const double age = run->started.kind == Time::kFinite ? AgeSeconds(now_us, run->started.us) : 0;
      elapsed.Add({ws_id, run->agent, *run_id}, age);
      if (run->estimated && *run->estimated > 0) estimated.Add({ws_id, run->agent, *run_id}, *run->estimated);
    }
    if (!view) continue;
    LiveWorkspace& live = view->workspaces[ws_id];
    live.id = ws_id;
    live.name = ToValidUtf8(workspaces_.at(ws_id));
    live.running = static_cast<std::int64_t>(ws.running);
    live.queue_depth = static_cast<std::int64_t>(ws.depth);
    live.queue_wait_avg_seconds = wait_avg;
    for (size_t rank = 0; rank < ws.top.size() && rank < static_cast<size_t>(live_cap); ++rank) {
      const auto& [run_id, run] = ws.top[rank];
      LiveRun r;
      r.run_id = *run_id;
      r.agent_id = run->agent;
      r.agent_name = ToValidUtf8(run->agent_name);
      if (run->user) {
        r.user_id = options_.user_id == UserIdMode::kHash ? HashUserId(options_.user_id_key, *run->user)
                                                          : ToValidUtf8(*run->user);
      }
      const bool finite = run->started.kind == Time::kFinite;
      r.started_at_us = finite ? run->started.us : 0;
      r.elapsed_seconds = finite ? AgeSeconds(now_us, run->started.us) : 0;
      if (run->estimated && std::isfinite(*run->estimated) && *run->estimated > 0) {
        r.estimated_runtime_seconds = *run->estimated;
        r.overdue = r.elapsed_seconds > options_.overdue_factor * *run->estimated;
      }
      live.runs.push_back(std::move(r));
    }
    // As PublishLiveView orders them (an infinite start counts as 0 there).
    std::sort(live.runs.begin(), live.runs.end(), [](const LiveRun& a, const LiveRun& b) {
      return std::tie(a.started_at_us, a.run_id) < std::tie(b.started_at_us, b.run_id);
    });
    // Dequeue order: priority DESC (NULLS FIRST), queued_at NULLS LAST, queue_id; or fifo.
    auto dequeue = [fifo = options_.queue_fifo](const auto& a, const auto& b) {
      if (!fifo && a.second->priority != b.second->priority) {
        if (!a.second->priority) return true;
        if (!b.second->priority) return false;
        return *a.second->priority > *b.second->priority;
      }
      if (Before(a.second->queued, b.second->queued)) return true;
      if (Before(b.second->queued, a.second->queued)) return false;
      return *a.first < *b.first;
    };
    const size_t cap = std::min(ws.waiting.size(), static_cast<size_t>(live_cap));
    std::partial_sort(ws.waiting.begin(), ws.waiting.begin() + static_cast<std::ptrdiff_t>(cap), ws.waiting.end(),
                      dequeue);
    for (size_t i = 0; i < cap; ++i) {
      const auto& [queue_id, entry] = ws.waiting[i];
      LiveQueued q;
      q.queue_id = *queue_id;
      q.agent_id = entry->agent;
      q.agent_name = ToValidUtf8(entry->agent_name);
      const bool finite = entry->queued.kind == Time::kFinite;
      q.wait_seconds = finite ? AgeSeconds(now_us, entry->queued.us) : 0;
      q.priority = static_cast<int>(std::clamp(entry->priority.value_or(0), -2147483648.0, 2147483647.0));
      if (finite) q.queued_at_us = entry->queued.us;
      if (entry->estimated_start.kind == Time::kFinite) q.estimated_start_us = entry->estimated_start.us;
      q.position = static_cast<int>(i + 1);
      live.queued.push_back(std::move(q));
    }
  }
  if (view) ctx_.on_live_view(std::move(view));
  Snapshot out;
  for (FamilyBuilder* b : {&running_f, &depth, &wait, &oldest, &elapsed, &estimated, &overdue_f}) {
    out.push_back(b->Take());
  }
  return out;
}

Snapshot RealtimeCollector::CollectAll(DbSession& db, std::int64_t now_us) {
  const std::string now = FormatTimestampUs(now_us);
  const int live_cap = options_.live_cap;
  std::map<std::string, double> running;
  std::map<std::string, double> overdue;
  std::map<std::string, QueueStats> queue;
  pqxx::result rows;
  {
    // A single statement needs no transaction: a session-wide statement_timeout
    // saves the BEGIN, SET LOCAL and COMMIT round trips on a collector that runs at
    // every change, and a prepared statement its 3 ms of planning
    // (docs/benchmarks.md, "Freshness"); behind a transaction pooler it is both.
    db.Prepare("realtime", sql_);
    rows = db.ExecPrepared("realtime", ctx_.timeout, now, options_.overdue_factor,
                           std::max(options_.top_runs, live_cap), live_cap);
  }
  for (const auto& row : rows) {
    if (row[0].c_str()[0] != 'w') continue;
    const std::string ws = row[1].as<std::string>();
    running[ws] = row[4].as<double>();
    overdue[ws] = row[5].as<double>();
    queue[ws] = {row[6].as<double>(), row[7].as<double>(), row[8].as<double>()};
  }

  FamilyBuilder running_f(kRunning), depth(kQueueDepth), wait(kQueueWaitAvg), oldest(kQueueOldest),
      elapsed(kElapsed), estimated(kEstimated), overdue_f(kOverdue);
  for (const auto& [ws, n] : running) running_f.Add({ws}, n);
  for (const auto& [ws, n] : overdue) overdue_f.Add({ws}, n);
  for (const auto& [ws, q] : queue) {
    depth.Add({ws}, q.depth);
    wait.Add({ws}, q.wait_avg);
    oldest.Add({ws}, q.oldest);
  }
  for (const auto& row : rows) {
    if (row[0].c_str()[0] != 't' || row[11].as<std::int64_t>() > options_.top_runs) continue;
    const std::string ws = row[1].as<std::string>();
    if (!running.contains(ws)) continue;  // workspace deleted: its series go away
    elapsed.Add({ws, row[2].c_str(), row[3].c_str()}, row[4].as<double>());
    if (!row[5].is_null() && row[5].as<double>() > 0) {
      estimated.Add({ws, row[2].c_str(), row[3].c_str()}, row[5].as<double>());
    }
  }
  if (live_cap > 0) PublishLiveView(rows, now_us);
  Snapshot out;
  for (FamilyBuilder* b : {&running_f, &depth, &wait, &oldest, &elapsed, &estimated, &overdue_f}) {
    out.push_back(b->Take());
  }
  return out;
}

void RealtimeCollector::PublishLiveView(const pqxx::result& rows, std::int64_t now_us) const {
  auto view = std::make_shared<LiveView>();
  view->sampled_at_us = now_us;
  auto micros = [](const pqxx::field& f) -> std::optional<std::int64_t> {
    if (f.is_null()) return std::nullopt;
    return static_cast<std::int64_t>(f.as<double>());
  };
  for (const auto& row : rows) {
    if (row[0].c_str()[0] != 'w') continue;
    LiveWorkspace& ws = view->workspaces[row[1].as<std::string>()];
    ws.id = row[1].as<std::string>();
    ws.name = row[2].is_null() ? "" : ToValidUtf8(row[2].as<std::string>());
    ws.running = static_cast<std::int64_t>(row[4].as<double>());
    ws.queue_depth = static_cast<std::int64_t>(row[6].as<double>());
    ws.queue_wait_avg_seconds = row[7].as<double>();
  }
  for (const auto& row : rows) {
    const char kind = row[0].c_str()[0];
    if (kind == 'w') continue;
    auto it = view->workspaces.find(row[1].as<std::string>());
    if (it == view->workspaces.end()) continue;  // a row of a workspace deleted meanwhile
    const std::string agent_name = row[9].is_null() ? "" : ToValidUtf8(row[9].as<std::string>());
    if (kind == 't') {
      if (row[11].as<std::int64_t>() > options_.live_cap) continue;
      LiveRun run;
      run.run_id = row[3].as<std::string>();
      run.agent_id = row[2].as<std::string>();
      run.agent_name = agent_name;
      if (!row[10].is_null()) {
        const std::string user = row[10].as<std::string>();
        run.user_id = options_.user_id == UserIdMode::kHash ? HashUserId(options_.user_id_key, user) : ToValidUtf8(user);
      }
      run.started_at_us = micros(row[6]).value_or(0);
      run.elapsed_seconds = row[4].as<double>();
      if (!row[5].is_null()) {
        const double estimate = row[5].as<double>();
        if (std::isfinite(estimate) && estimate > 0) {
          run.estimated_runtime_seconds = estimate;
          run.overdue = run.elapsed_seconds > options_.overdue_factor * estimate;
        }
      }
      it->second.runs.push_back(std::move(run));
    } else if (kind == 'q') {
      LiveQueued q;
      q.queue_id = row[3].as<std::string>();
      q.agent_id = row[2].as<std::string>();
      q.agent_name = agent_name;
      q.wait_seconds = row[4].as<double>();
      const double priority = row[5].is_null() ? 0 : row[5].as<double>();
      q.priority = static_cast<int>(std::clamp(priority, -2147483648.0, 2147483647.0));
      q.queued_at_us = micros(row[6]);
      q.estimated_start_us = micros(row[7]);
      q.position = static_cast<int>(row[11].as<std::int64_t>());
      it->second.queued.push_back(std::move(q));
    }
  }
  // UNION ALL keeps no order: lists go out longest-running first and in dequeue order.
  for (auto& [id, ws] : view->workspaces) {
    std::sort(ws.runs.begin(), ws.runs.end(), [](const LiveRun& a, const LiveRun& b) {
      return std::tie(a.started_at_us, a.run_id) < std::tie(b.started_at_us, b.run_id);
    });
    std::sort(ws.queued.begin(), ws.queued.end(),
              [](const LiveQueued& a, const LiveQueued& b) { return a.position < b.position; });
  }
  ctx_.on_live_view(std::move(view));
}


std::span<const CollectorFlag> RealtimeCollector::Flags() {
  static constexpr CollectorFlag kFlags[] = {
      {{"collector.realtime.top-runs", FlagKind::kInt, "10",
        "Longest-running runs per workspace exposed with run_id (0 turns agent_run_elapsed_seconds off)."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         return ParseIntFlag(v, 0, 1000, &o->realtime.top_runs, why);
       }},
      {{"collector.realtime.overdue-factor", FlagKind::kString, "3",
        "A running run counts in agent_runs_overdue once it has run this many times its estimated_runtime."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         double factor = 0;
         auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), factor);
         if (ec != std::errc() || ptr != v.data() + v.size() || !(factor >= 1 && factor <= 1000)) {
           *why = "want a number from 1 to 1000, got \"" + std::string(v) + "\"";
           return false;
         }
         o->realtime.overdue_factor = factor;
         return true;
       }},
      {{"collector.realtime.resync-interval", FlagKind::kDuration, "60s",
        "With --db.notify-channel and schema/notify.sql's triggers, a realtime sample applies only the rows announced "
        "since the last one and reads every running and waiting row at most this long apart; 0 = read every row each "
        "sample."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         return ParseDurationFlag(v, true, &o->realtime.resync_interval, why);
       }},
  };
  return kFlags;
}

}  // namespace aee
