#include "collectors/runs_collector.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include <pqxx/pqxx>

#include "collectors/options.h"
#include "collectors/scope.h"
#include "core/db.h"
#include "core/log.h"

namespace aee {
namespace {

using prometheus::MetricType;

constexpr FamilySpec kFinished{"agent_runs_finished_total", MetricType::Counter,
                               "Runs that reached a terminal status since 00:00 UTC today, by status.",
                               {"workspace_id", "agent_id", "status"}};
constexpr FamilySpec kRuntime{"agent_run_runtime_seconds_total", MetricType::Counter,
                              "Summed runtime of runs finished since 00:00 UTC today.",
                              {"workspace_id", "agent_id"}};
// Without per-agent labels (--collector.agents.per-agent-label=false).
constexpr FamilySpec kFinishedByWorkspace{kFinished.name, MetricType::Counter, kFinished.help,
                                          {"workspace_id", "status"}};
constexpr FamilySpec kRuntimeByWorkspace{kRuntime.name, MetricType::Counter, kRuntime.help, {"workspace_id"}};
constexpr FamilySpec kQueueWait{"agent_run_queue_wait_seconds", MetricType::Histogram,
                                "Queue wait (queued to started) of runs finished since 00:00 UTC today.",
                                {"workspace_id"}};
constexpr FamilySpec kDuration{"agent_run_duration_seconds", MetricType::Histogram,
                               "Runtime (started to finished) of runs finished since 00:00 UTC today.",
                               {"workspace_id"}};
constexpr FamilySpec kEndToEnd{"agent_run_end_to_end_seconds", MetricType::Histogram,
                               "End-to-end latency (queued to finished) of runs finished since 00:00 UTC today.",
                               {"workspace_id"}};
constexpr FamilySpec kQueueWaitByAgent{kQueueWait.name, MetricType::Histogram, kQueueWait.help,
                                       {"workspace_id", "agent_id"}};
constexpr FamilySpec kDurationByAgent{kDuration.name, MetricType::Histogram, kDuration.help,
                                      {"workspace_id", "agent_id"}};
constexpr FamilySpec kEndToEndByAgent{kEndToEnd.name, MetricType::Histogram, kEndToEnd.help,
                                      {"workspace_id", "agent_id"}};
constexpr FamilySpec kCountingSince{"agent_runs_counting_since_timestamp_seconds", MetricType::Gauge,
                                    "Start of the period the finished-run counters cover (00:00 UTC today).",
                                    {}};

constexpr FamilySpec kReplayLag{"agent_exporter_db_replay_lag_seconds", MetricType::Gauge,
                                "How far the hot standby the exporter reads is behind its primary: 0 when it "
                                "replayed all the WAL it received, else the age of the last transaction it "
                                "replayed (absent on a primary).",
                                {}};

constexpr std::array<FamilySpec, 10> kFamilies = {kFinished, kRuntime,       kQueueWait,
                                                  kDuration, kEndToEnd,      kCountingSince,
                                                  kRowsSkippedFamily, kLedgerEntriesFamily, kRowsReadFamily, kReplayLag};

// The three observed latencies, in the order of the SQL columns below.
constexpr std::array<std::string_view, 3> kLatencies = {"queue_wait", "runtime", "end_to_end"};

// Every finished row, classified once, here, for both the start-up aggregate and
// the incremental reads: what is skipped and why is decided by this SQL alone.
// Missing latency columns are derived from the timestamps; runs that never started
// (cancelled while queued) are counted but observe no latency. An infinite
// timestamp makes its difference NaN, counted as invalid_value. Each latency's
// bucket is chosen here too (LatencyCodeSql), so both paths bucket identically.
// OFFSET 0 keeps each level a subquery: without it the planner inlines every
// column's expression into every reference, and the aggregate below evaluated the
// whole classification about a hundred times per row.
constexpr std::string_view kClassifiedRows = R"SQL(
WITH v AS (
  SELECT r.run_id, r.workspace_id, r.agent_id, r.status, r.finished_at,
         (r.started_at IS NOT NULL OR r.runtime_seconds IS NOT NULL) AS started,
         CASE WHEN r.workspace_id IS NULL THEN 'missing_workspace'
              WHEN r.agent_id IS NULL THEN 'missing_agent'
              WHEN coalesce(r.status, '') NOT IN ('completed', 'failed', 'cancelled') THEN 'unknown_status'
         END AS row_skip,
         coalesce(r.queue_wait_seconds, CASE WHEN NOT isfinite(r.started_at) OR NOT isfinite(r.queued_at) THEN 'NaN'::float8 ELSE date_part('epoch', r.started_at - r.queued_at) END) AS queue_wait,
         coalesce(r.runtime_seconds, CASE WHEN NOT isfinite(r.finished_at) OR NOT isfinite(r.started_at) THEN 'NaN'::float8 ELSE date_part('epoch', r.finished_at - r.started_at) END) AS runtime,
         coalesce(r.total_latency_seconds, CASE WHEN NOT isfinite(r.finished_at) OR NOT isfinite(r.queued_at) THEN 'NaN'::float8 ELSE date_part('epoch', r.finished_at - r.queued_at) END) AS end_to_end
  FROM {rows}
  WHERE r.finished_at >= $1::timestamptz AND r.finished_at < $2::timestamptz AND {shard}
  OFFSET 0
), c AS (
  SELECT v.*, {codes} FROM v OFFSET 0
)
)SQL";

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

// The runs read: all of agent_runs, or (spans) the runs whose finished_at lies in
// one of the spans [$3[i], $4[i]], an index range scan each.
enum class RunsFrom { kTable, kSpans };

std::string ClassifiedRowsSql(std::string_view quoted_schema, const ShardOptions& shard,
                              RunsFrom from = RunsFrom::kTable) {
  std::vector<std::string> codes;
  for (auto v : kLatencies) {
    codes.push_back(LatencyCodeSql(v, "row_skip IS NOT NULL OR NOT started") + " AS " + std::string(v) + "_code");
  }
  std::string sql(kClassifiedRows);
  sql.replace(sql.find("{codes}"), 7, Join(codes, ", "));
  sql.replace(sql.find("{shard}"), 7, WorkspaceShardSql("r.workspace_id", quoted_schema, shard));
  sql.replace(sql.find("{rows}"), 6,
              from == RunsFrom::kTable ? "{schema}.agent_runs r"
                                       : "unnest($3::timestamptz[], $4::timestamptz[]) AS s(lo, hi) "
                                         "JOIN {schema}.agent_runs r ON r.finished_at >= s.lo AND r.finished_at <= s.hi");
  return WithSchema(sql, quoted_schema);
}

// The start-up aggregate, one pass with four grouping sets: finished runs per
// agent and status (or per skip reason), and per agent each latency's codes.
// Column layout: see AggColumn.
enum AggColumn : int {
  kAggSet,        // GROUPING() of the three codes: kCountsSet, or which latency
  kAggWorkspace,
  kAggAgent,
  kAggStatus,
  kAggRowSkip,
  kAggCode,       // the latency's LatencyCode (latency sets only)
  kAggRows,
  kAggSumUs,      // the first latency's sum; the others follow in kLatencies order
  kAggFirstUs = kAggSumUs + 3,  // the group's first finished_at (microseconds)
};
constexpr int kCountsSet = 7;                                // no code grouped
constexpr std::array<int, 3> kLatencySets = {3, 5, 6};       // one code grouped each

std::string AggregateSql(std::string_view quoted_schema, const ShardOptions& shard) {
  std::vector<std::string> codes, sums, sets = {"(workspace_id, agent_id, status, row_skip)"};
  for (auto v : kLatencies) {
    const std::string code = std::string(v) + "_code";
    codes.push_back(code);
    sums.push_back(CappedSumSql(LatencyMicrosSql(v, code)));
    sets.push_back("(workspace_id, agent_id, " + code + ")");
  }
  return ClassifiedRowsSql(quoted_schema, shard) + "SELECT GROUPING(" + Join(codes, ", ") +
         "), workspace_id::text, agent_id::text, status, row_skip, coalesce(" + Join(codes, ", ") +
         "), count(*), " + Join(sums, ", ") +
         ", (extract(epoch FROM min(finished_at)) * 1000000)::bigint FROM c GROUP BY GROUPING SETS (" +
         Join(sets, ", ") + ")";
}

// Row columns: run_id, workspace_id, agent_id, status, finished_us, row_skip,
// then per latency (kLatencies order) its code and microseconds.
enum RowColumn : int { kRowId, kRowWorkspace, kRowAgent, kRowStatus, kRowFinishedUs, kRowSkip, kRowLatencies };

std::string RowsSql(std::string_view quoted_schema, const ShardOptions& shard, RunsFrom from = RunsFrom::kTable) {
  std::vector<std::string> cols = {"run_id::text", "workspace_id::text", "agent_id::text", "status",
                                   "(extract(epoch FROM finished_at) * 1000000)::bigint", "row_skip"};
  for (auto v : kLatencies) {
    cols.push_back(std::string(v) + "_code");
    cols.push_back(LatencyMicrosSql(v, std::string(v) + "_code"));
  }
  return ClassifiedRowsSql(quoted_schema, shard, from) + "SELECT " + Join(cols, ", ") + " FROM c";
}

std::string LedgerSql(std::string_view quoted_schema, const ShardOptions& shard) {
  return WithSchema(
      "SELECT r.run_id::text, (extract(epoch FROM r.finished_at) * 1000000)::bigint FROM {schema}.agent_runs r "
      "WHERE r.finished_at >= $1::timestamptz AND r.finished_at < $2::timestamptz AND " +
          WorkspaceShardSql("r.workspace_id", quoted_schema, shard),
      quoted_schema);
}

}  // namespace

RunsCollector::Histograms::Histograms()
    : queue_wait(LatencyBuckets()), runtime(LatencyBuckets()), end_to_end(LatencyBuckets()) {}

RunsCollector::RunsCollector(CollectorContext ctx, RunsCollectorOptions options)
    : ctx_(std::move(ctx)),
      options_(options),
      counter_({.collector = "runs",
                .id = DailyWindow::IdColumn::kText,
                .timestamp_column = kRowFinishedUs,
                .rows_sql = RowsSql(ctx_.quoted_schema, ctx_.shard),
                .spans_rows_sql = RowsSql(ctx_.quoted_schema, ctx_.shard, RunsFrom::kSpans),
                .announced = ctx_.change_feed != nullptr,
                // run_id is a uuid: new runs are read by finished_at
                .id_sequence_table = {},
                .id_sequence_column = {},
                .id_rows_sql = {},
                .id_ledger_sql = {},
                .aggregate_sql = AggregateSql(ctx_.quoted_schema, ctx_.shard),
                .ledger_sql = LedgerSql(ctx_.quoted_schema, ctx_.shard),
                // The grouping sets hash in memory with this (about 10 MB at 350 k
                // runs a day); the default 4 MB spilled them to disk.
                .aggregate_setup = "SET LOCAL work_mem = '32MB'",
                .counting_since = kCountingSince},
               {options.lateness, options.sweep_interval}, options.read_batch_rows, ctx_.timeout, ctx_.logger),
      agents_sql_(WithSchema("SELECT a.workspace_id::text, a.id::text FROM {schema}.agents a "
                             "WHERE a.workspace_id IS NOT NULL AND " +
                                 WorkspaceShardSql("a.workspace_id", ctx_.quoted_schema, ctx_.shard),
                             ctx_.quoted_schema)) {
  if (!options_.per_agent_label) options_.agent_histograms = false;
}

std::span<const FamilySpec> RunsCollector::Families() { return kFamilies; }

RunsCollector::Key RunsCollector::HistogramKey(const std::string& workspace,
                                               const std::string& agent) const {
  return {workspace, options_.agent_histograms ? agent : std::string()};
}

std::string RunsCollector::AgentLabel(DayState& day, const std::string& workspace, const std::string& agent) const {
  if (!options_.per_agent_label) return std::string();
  if (options_.max_agents_per_workspace <= 0) return agent;
  auto it = day.named.find(workspace);
  if (it == day.named.end()) it = day.named.emplace(workspace, LabelCap(options_.max_agents_per_workspace)).first;
  return it->second.Label(agent);
}

void RunsCollector::AdmitAgents(DayState& day, const pqxx::result& agg) const {
  if (!options_.per_agent_label || options_.max_agents_per_workspace <= 0) return;
  std::map<Key, std::int64_t> first;  // (workspace, agent) -> first finished run today
  for (const auto& row : agg) {
    if (row[kAggSet].as<int>() != kCountsSet || !row[kAggRowSkip].is_null()) continue;
    const std::int64_t at = row[kAggFirstUs].as<std::int64_t>();
    auto [it, inserted] = first.try_emplace({row[kAggWorkspace].as<std::string>(), row[kAggAgent].as<std::string>()}, at);
    if (!inserted) it->second = std::min(it->second, at);
  }
  std::map<std::string, std::vector<std::pair<std::int64_t, std::string>>> by_workspace;
  for (const auto& [key, at] : first) by_workspace[key.first].emplace_back(at, key.second);
  for (auto& [workspace, agents] : by_workspace) {
    day.named.emplace(workspace, LabelCap(options_.max_agents_per_workspace)).first->second.AdmitInOrder(std::move(agents));
  }
}

Snapshot RunsCollector::Collect(DbSession& db) {
  counter_.Cycle(db, ToUnixMicros(ctx_.clock->Now()), *this);
  return BuildSnapshot();
}

void RunsCollector::ReadKnownAgents(pqxx::transaction_base& tx, bool always,
                                    std::optional<std::uint64_t> feed_generation) {
  // The agents table changes rarely; with schema/notify.sql's triggers verified and
  // the listener connected since the last read, an unchanged generation means no
  // agent was added, removed or moved (a change committed after this read's
  // snapshot bumps the generation taken before it).
  if (!always && feed_generation && agents_generation_ == feed_generation) return;
  std::vector<Key> agents;
  for (const auto& row : tx.exec(agents_sql_)) {
    agents.emplace_back(row[0].as<std::string>(), row[1].as<std::string>());
  }
  known_agents_ = std::move(agents);
  agents_generation_ = feed_generation;
  ++agents_reads_;
}

std::optional<std::uint64_t> RunsCollector::TrustedAgentsGeneration() const {
  ChangeFeed* feed = ctx_.change_feed.get();
  if (feed == nullptr) return std::nullopt;
  const std::uint64_t generation = feed->agents_generation();
  if (!feed->Trusted()) return std::nullopt;
  return generation;
}

void RunsCollector::BeforeCycle() { cycle_generation_ = TrustedAgentsGeneration(); }

std::optional<DailyWindow::Announced> RunsCollector::TakeAnnounced() {
  if (!ctx_.change_feed) return std::nullopt;
  ChangeFeed::Oldest finished = ctx_.change_feed->TakeFinished();
  if (!finished.complete) return std::nullopt;
  return DailyWindow::Announced{finished.us, std::move(finished.times)};
}

void RunsCollector::ReadAlso(pqxx::transaction_base& tx, bool startup) {
  ReadKnownAgents(tx, startup, cycle_generation_);
}

std::uint64_t RunsCollector::StartDay(const pqxx::result& agg) {
  DayState day;
  std::uint64_t rows = 0;
  AdmitAgents(day, agg);
  for (const auto& row : agg) {
    ApplyAggregate(day, row);
    if (row[kAggSet].as<int>() == kCountsSet) rows += row[kAggRows].as<std::uint64_t>();
  }
  day_ = std::move(day);
  return rows;
}

void RunsCollector::ApplyRows(std::vector<pqxx::row> fresh) {
  // New agents are admitted under the cap in the order of their runs' finished_at,
  // as a restart's AdmitAgents orders them.
  if (options_.max_agents_per_workspace > 0) {
    std::stable_sort(fresh.begin(), fresh.end(), [](const pqxx::row& a, const pqxx::row& b) {
      const std::int64_t at = a[kRowFinishedUs].as<std::int64_t>(), bt = b[kRowFinishedUs].as<std::int64_t>();
      if (at != bt) return at < bt;
      return std::string_view(a[kRowAgent].c_str()) < std::string_view(b[kRowAgent].c_str());
    });
  }
  for (const auto& row : fresh) ApplyRow(day_, row);
}

void RunsCollector::AfterCycle(const DailyWindow::Bound& bound) {
  // The standby's replay lag, kept for the snapshot and told to ctx_.on_replay_lag.
  replay_lag_s_ = bound.standby ? bound.replay_lag_s : -1;
  if (ctx_.on_replay_lag) ctx_.on_replay_lag(replay_lag_s_);
}

void RunsCollector::ApplyRow(DayState& day, const pqxx::row& row) {
  if (!row[kRowSkip].is_null()) {
    counter_.Skip(row[kRowSkip].c_str());
    return;
  }
  const std::string workspace = row[kRowWorkspace].as<std::string>();
  const std::string agent = AgentLabel(day, workspace, row[kRowAgent].as<std::string>());
  const std::string status = row[kRowStatus].as<std::string>();
  AgentCounts& counts = day.agents[{workspace, agent}];
  if (status == "completed") ++counts.completed;
  else if (status == "failed") ++counts.failed;
  else ++counts.cancelled;

  Histograms& h = day.histograms.try_emplace(HistogramKey(workspace, agent)).first->second;
  for (size_t i = 0; i < kLatencies.size(); ++i) {
    const int base = kRowLatencies + static_cast<int>(i) * 2;
    ApplyLatency(counts, h, i, row[base].as<int>(), 1, row[base + 1].is_null() ? 0 : row[base + 1].as<std::int64_t>());
  }
}

void RunsCollector::ApplyLatency(AgentCounts& counts, Histograms& h, size_t latency, int code, std::uint64_t n,
                                 std::int64_t sum_us) {
  if (code == kLatencyNone) return;
  if (code < 0) {
    counter_.Skip(LatencySkipReason(code, "missing_timestamp"), n);
    return;
  }
  ExactHistogram* targets[] = {&h.queue_wait, &h.runtime, &h.end_to_end};
  targets[latency]->Add(static_cast<size_t>(code), n, sum_us);
  if (kLatencies[latency] == "runtime") counts.runtime_us = SaturatingAdd(counts.runtime_us, sum_us);
}

void RunsCollector::ApplyAggregate(DayState& day, const pqxx::row& row) {
  const int set = row[kAggSet].as<int>();
  const std::uint64_t n = row[kAggRows].as<std::uint64_t>();
  if (set == kCountsSet) {
    if (!row[kAggRowSkip].is_null()) {
      counter_.Skip(row[kAggRowSkip].c_str(), n);
      return;
    }
    const std::string workspace = row[kAggWorkspace].as<std::string>();
    const std::string agent = AgentLabel(day, workspace, row[kAggAgent].as<std::string>());
    const std::string status = row[kAggStatus].as<std::string>();
    AgentCounts& counts = day.agents[{workspace, agent}];
    day.histograms.try_emplace(HistogramKey(workspace, agent));  // as ApplyRow: also for runs never started
    if (status == "completed") counts.completed += n;
    else if (status == "failed") counts.failed += n;
    else counts.cancelled += n;
    return;
  }
  const auto latency = static_cast<size_t>(std::find(kLatencySets.begin(), kLatencySets.end(), set) - kLatencySets.begin());
  if (latency == kLatencySets.size()) throw std::logic_error("unexpected grouping set " + std::to_string(set));
  const int code = row[kAggCode].as<int>();
  if (code == kLatencyNone) return;  // skipped rows, runs never started: workspace or agent may be NULL
  const std::string workspace = row[kAggWorkspace].as<std::string>();
  const std::string agent = AgentLabel(day, workspace, row[kAggAgent].as<std::string>());
  Histograms& h = day.histograms.try_emplace(HistogramKey(workspace, agent)).first->second;
  ApplyLatency(day.agents[{workspace, agent}], h, latency, code, n,
               row[kAggSumUs + static_cast<int>(latency)].as<std::int64_t>());
}

Snapshot RunsCollector::BuildSnapshot() const {
  // Known agents with no finished run yet are exposed at 0, so the first run of
  // the day shows up in rate()/increase() instead of being the series' first sample.
  std::map<Key, AgentCounts> agents = day_.agents;
  std::set<Key> hist_keys;
  for (const auto& [key, unused] : day_.histograms) hist_keys.insert(key);
  for (const auto& [workspace, agent] : known_agents_) {
    // Under the cap only named agents and, once the workspace is full, "other" are
    // shown before their first run: an agent not named yet is admitted by its first
    // run, and showing every known agent would not be bounded by the cap.
    std::string label;
    if (options_.per_agent_label) {
      label = agent;
      if (options_.max_agents_per_workspace > 0) {
        auto named = day_.named.find(workspace);
        if (named == day_.named.end() || !named->second.Named(agent)) {
          if (named == day_.named.end() || !named->second.full()) continue;
          label = std::string(LabelCap::kOther);
        }
      }
    }
    agents.try_emplace({workspace, label});
    hist_keys.insert(HistogramKey(workspace, label));
  }

  const bool per_agent = options_.per_agent_label;
  FamilyBuilder finished(per_agent ? kFinished : kFinishedByWorkspace);
  FamilyBuilder runtime(per_agent ? kRuntime : kRuntimeByWorkspace);
  for (const auto& [key, c] : agents) {
    if (per_agent) {
      finished.Add({key.first, key.second, "completed"}, static_cast<double>(c.completed));
      finished.Add({key.first, key.second, "failed"}, static_cast<double>(c.failed));
      finished.Add({key.first, key.second, "cancelled"}, static_cast<double>(c.cancelled));
      runtime.Add({key.first, key.second}, static_cast<double>(c.runtime_us) / 1e6);
    } else {
      finished.Add({key.first, "completed"}, static_cast<double>(c.completed));
      finished.Add({key.first, "failed"}, static_cast<double>(c.failed));
      finished.Add({key.first, "cancelled"}, static_cast<double>(c.cancelled));
      runtime.Add({key.first}, static_cast<double>(c.runtime_us) / 1e6);
    }
  }

  const bool by_agent = options_.agent_histograms;
  FamilyBuilder queue_wait(by_agent ? kQueueWaitByAgent : kQueueWait);
  FamilyBuilder duration(by_agent ? kDurationByAgent : kDuration);
  FamilyBuilder end_to_end(by_agent ? kEndToEndByAgent : kEndToEnd);
  const Histograms empty;
  for (const auto& key : hist_keys) {
    auto it = day_.histograms.find(key);
    const Histograms& h = it == day_.histograms.end() ? empty : it->second;
    if (by_agent) {
      queue_wait.AddHistogram({key.first, key.second}, h.queue_wait.ToClient());
      duration.AddHistogram({key.first, key.second}, h.runtime.ToClient());
      end_to_end.AddHistogram({key.first, key.second}, h.end_to_end.ToClient());
    } else {
      queue_wait.AddHistogram({key.first}, h.queue_wait.ToClient());
      duration.AddHistogram({key.first}, h.runtime.ToClient());
      end_to_end.AddHistogram({key.first}, h.end_to_end.ToClient());
    }
  }

  FamilyBuilder replay_lag(kReplayLag);
  if (replay_lag_s_ >= 0) replay_lag.Add({}, replay_lag_s_);

  Snapshot out;
  for (FamilyBuilder* b : {&finished, &runtime, &queue_wait, &duration, &end_to_end}) out.push_back(b->Take());
  counter_.AppendSelfMetrics(out);
  out.push_back(replay_lag.Take());
  return out;
}


std::span<const CollectorFlag> RunsCollector::Flags() {
  static constexpr CollectorFlag kFlags[] = {
      {{"collector.runs.lateness", FlagKind::kDuration, "5m",
        "How much later than its finished_at a run may commit and still be counted."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         return ParseDurationFlag(v, true, &o->runs.lateness, why);
       }},
      {{"collector.runs.sweep-interval", FlagKind::kDuration, "5m",
        "How often the whole lateness window is re-read for application-stamped late commits (0 = never)."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         return ParseDurationFlag(v, true, &o->runs.sweep_interval, why);
       }},
      {{"collector.runs.agent-histograms", FlagKind::kBool, "false",
        "Add agent_id to the run latency histograms (cardinality x agents)."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         return ParseBoolFlag(v, &o->runs.agent_histograms, why);
       }},
      {{"collector.agents.max-per-workspace", FlagKind::kInt, "0",
        "Agents exposed by agent_id per workspace and day; runs of further agents count as agent_id=\"other\" (0 = no cap)."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         return ParseIntFlag(v, 0, 100000, &o->runs.max_agents_per_workspace, why, "0 (no cap) or an integer up to 100000");
       }},
      {{"collector.agents.per-agent-label", FlagKind::kBool, "true",
        "Label the finished-run counters by agent_id; false counts per workspace only and leaves agent_info out."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         return ParseBoolFlag(v, &o->runs.per_agent_label, why);
       }},
  };
  return kFlags;
}

}  // namespace aee
