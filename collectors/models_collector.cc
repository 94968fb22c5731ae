#include "collectors/models_collector.h"

#include <algorithm>
#include <tuple>
#include <vector>

#include <pqxx/pqxx>

#include "collectors/options.h"
#include "collectors/scope.h"
#include "core/db.h"

namespace aee {
namespace {

using prometheus::MetricType;

constexpr FamilySpec kCalls{"agent_model_calls_total", MetricType::Counter,
                            "Model calls made since 00:00 UTC today (models past the cap as model=\"other\").",
                            {"workspace_id", "model"}};
constexpr FamilySpec kTokens{"agent_model_tokens_total", MetricType::Counter,
                             "Tokens of the model calls made since 00:00 UTC today, by type (prompt, completion).",
                             {"workspace_id", "model", "type"}};
constexpr FamilySpec kCost{"agent_model_cost_dollars_total", MetricType::Counter,
                           "Cost in US dollars of the model calls made since 00:00 UTC today.",
                           {"workspace_id", "model"}};
constexpr FamilySpec kLatency{"agent_model_call_duration_seconds", MetricType::Histogram,
                              "Latency of the model calls made since 00:00 UTC today.", {"workspace_id", "model"}};
constexpr FamilySpec kCountingSince{"agent_model_calls_counting_since_timestamp_seconds", MetricType::Gauge,
                                    "Start of the period the model counters cover (00:00 UTC today).", {}};

constexpr std::array<FamilySpec, 8> kFamilies = {kCalls,   kTokens,        kCost,  kLatency,
                                                 kCountingSince, kRowsSkippedFamily, kLedgerEntriesFamily, kRowsReadFamily};

// Every call of the range, classified once, here, for both the start-up aggregate
// and the incremental reads. NULL tokens and cost count as 0 (calls that have
// none); a row with a negative or absurd value is skipped whole; a missing or
// invalid latency only skips the latency observation, whose bucket is chosen here
// too (LatencyCodeSql). Values are integers (tokens, nanodollars, microseconds) so
// sums are exact and replicas identical. OFFSET 0 keeps each level a subquery, so
// each expression is computed once per row rather than once per reference.
constexpr std::string_view kClassifiedRows = R"SQL(
WITH raw AS (
  SELECT m.id,
         m.workspace_id,
         m.model,
         m.created_at,
         CASE WHEN m.workspace_id IS NULL THEN 'missing_workspace'
              WHEN coalesce(m.model, '') = '' THEN 'missing_model'
              WHEN m.prompt_tokens < 0 OR m.completion_tokens < 0 OR m.cost_usd < 0 THEN 'negative_value'
              WHEN m.cost_usd > 1000000 THEN 'invalid_value'
         END AS row_skip,
         coalesce(m.prompt_tokens, 0)::bigint AS prompt_tokens,
         coalesce(m.completion_tokens, 0)::bigint AS completion_tokens,
         m.cost_usd,
         m.latency_seconds AS latency
         {mine}
  FROM {schema}.model_calls m
  WHERE {where}
  OFFSET 0
), v AS (
  SELECT raw.*,
         CASE WHEN row_skip IS NULL THEN coalesce(round(cost_usd * 1000000000), 0)::bigint END AS cost_nano,
         {latency_code} AS latency_code
  FROM raw OFFSET 0
)
)SQL";

// by_id: the calls a read by id covers (DailyWindow::Range::by_id: from id $3, at
// or above $4 or in $5), of every day and workspace, `mine` telling today's of
// this shard.
std::string ClassifiedRowsSql(std::string_view quoted_schema, const ShardOptions& shard, bool by_id = false) {
  std::string sql(kClassifiedRows);
  const std::string today = "m.created_at >= $1::timestamptz AND m.created_at < $2::timestamptz AND ";
  const std::string today_here = today + WorkspaceShardSql("m.workspace_id", quoted_schema, shard);
  // coalesce: a NULL created_at (a schema without NOT NULL) is nobody's day. `mine`
  // hashes each row's workspace (ShardSql): the EXISTS of WorkspaceShardSql became a
  // primary-key probe of workspaces per row here (3.7 buffers a call against the read's
  // own 0.1, at 2 000 workspaces; docs/benchmarks.md), because a read by id is planned
  // for the few rows above the statistics' highest id.
  sql.replace(sql.find("{mine}"), 6,
              by_id ? ", coalesce(" + today + ShardSql("m.workspace_id", shard) + ", false) AS mine" : "");
  sql.replace(sql.find("{where}"), 7,
              by_id ? "m.id >= $3::bigint AND (m.id >= $4::bigint OR m.id = ANY($5::bigint[]))" : today_here);
  sql.replace(sql.find("{latency_code}"), 14, LatencyCodeSql("latency", "row_skip IS NOT NULL"));
  return WithSchema(sql, quoted_schema);
}

// Aggregate columns, in this order (kAggFirstUs: the group's first created_at).
enum AggColumn : int { kAggWorkspace, kAggModel, kAggSkip, kAggLatencyCode, kAggCalls, kAggFirstUs,
                       kAggPrompt, kAggCompletion, kAggCostNano, kAggLatencySumUs };

std::string AggregateSql(std::string_view quoted_schema, const ShardOptions& shard) {
  return ClassifiedRowsSql(quoted_schema, shard) +
         "SELECT workspace_id::text, model, row_skip, latency_code, count(*), "
         "(extract(epoch FROM min(created_at)) * 1000000)::bigint, " +
         CappedSumSql("prompt_tokens") + ", " + CappedSumSql("completion_tokens") + ", " + CappedSumSql("cost_nano") +
         ", " + CappedSumSql(LatencyMicrosSql("latency", "latency_code")) + " FROM v GROUP BY 1, 2, 3, 4";
}

// Row columns, in this order (kRowMine: reads by id only).
enum RowColumn : int { kRowId, kRowWorkspace, kRowModel, kRowCreatedUs, kRowSkip, kRowPrompt, kRowCompletion,
                       kRowCostNano, kRowLatencyCode, kRowLatencyUs, kRowMine };

std::string RowsSql(std::string_view quoted_schema, const ShardOptions& shard, bool by_id = false) {
  return ClassifiedRowsSql(quoted_schema, shard, by_id) +
         "SELECT id, workspace_id::text, model, (extract(epoch FROM created_at) * 1000000)::bigint, row_skip, "
         "prompt_tokens, completion_tokens, cost_nano, latency_code, " +
         LatencyMicrosSql("latency", "latency_code") + (by_id ? ", mine" : "") +
         " FROM v ORDER BY created_at, model, id";
}

}  // namespace

ModelsCollector::ModelsCollector(CollectorContext ctx, ModelsCollectorOptions options)
    : ctx_(std::move(ctx)),
      options_(options),
      counter_({.collector = "models",
                .id = DailyWindow::IdColumn::kBigint,
                .timestamp_column = kRowCreatedUs,
                .rows_sql = RowsSql(ctx_.quoted_schema, ctx_.shard),
                .spans_rows_sql = {},
                .announced = false,  // no triggers on model_calls (docs/configuration.md)
                .id_sequence_table = options.read_by_id ? WithSchema("{schema}.model_calls", ctx_.quoted_schema) : "",
                .id_sequence_column = "id",
                .id_rows_sql = RowsSql(ctx_.quoted_schema, ctx_.shard, true),
                .id_mine_column = kRowMine,
                .id_ledger_sql = WithSchema(
                    "SELECT m.id, (extract(epoch FROM m.created_at) * 1000000)::bigint FROM {schema}.model_calls m "
                    "WHERE m.id >= $1::bigint AND m.created_at >= $2::timestamptz AND m.created_at < $3::timestamptz "
                    "AND " + WorkspaceShardSql("m.workspace_id", ctx_.quoted_schema, ctx_.shard),
                    ctx_.quoted_schema),
                .aggregate_sql = AggregateSql(ctx_.quoted_schema, ctx_.shard),
                .ledger_sql = WithSchema(
                    "SELECT m.id, (extract(epoch FROM m.created_at) * 1000000)::bigint FROM {schema}.model_calls m "
                    "WHERE m.created_at >= $1::timestamptz AND m.created_at < $2::timestamptz AND " +
                        WorkspaceShardSql("m.workspace_id", ctx_.quoted_schema, ctx_.shard),
                    ctx_.quoted_schema),
                .aggregate_setup = {},
                .counting_since = kCountingSince},
               {options.lateness, options.sweep_interval}, options.read_batch_rows, ctx_.timeout, ctx_.logger) {}

std::span<const FamilySpec> ModelsCollector::Families() { return kFamilies; }

Snapshot ModelsCollector::Collect(DbSession& db) {
  counter_.Cycle(db, ToUnixMicros(ctx_.clock->Now()), *this);
  return BuildSnapshot();
}

const std::string& ModelsCollector::Label(DayState& day, const std::string& model) const {
  return day.named.Label(model);
}

ExactHistogram& ModelsCollector::Latency(DayState& day, const std::string& workspace, const std::string& label) const {
  return day.latency.try_emplace({workspace, label}, LatencyBuckets()).first->second;
}

void ModelsCollector::Check(pqxx::transaction_base& tx) { RequireTable(tx, ctx_.quoted_schema, "model_calls"); }

std::uint64_t ModelsCollector::StartDay(const pqxx::result& agg) {
  // The models named today: the first max_models by first call (then name), as an
  // exporter that had been running since midnight would have admitted them.
  DayState day;
  day.named = LabelCap(std::max(options_.max_models, 0));
  std::map<std::string, std::int64_t> first_call;
  std::uint64_t rows = 0;
  for (const auto& row : agg) {
    rows += row[kAggCalls].as<std::uint64_t>();
    if (!row[kAggSkip].is_null()) continue;
    const std::string model = row[kAggModel].as<std::string>();
    const std::int64_t first = row[kAggFirstUs].as<std::int64_t>();
    auto [it, inserted] = first_call.try_emplace(model, first);
    if (!inserted) it->second = std::min(it->second, first);
  }
  std::vector<std::pair<std::int64_t, std::string>> order;
  for (const auto& [model, first] : first_call) order.emplace_back(first, model);
  day.named.AdmitInOrder(std::move(order));

  for (const auto& row : agg) {
    const std::uint64_t n = row[kAggCalls].as<std::uint64_t>();
    if (!row[kAggSkip].is_null()) {
      counter_.Skip(row[kAggSkip].c_str(), n);
      continue;
    }
    const std::string& label = Label(day, row[kAggModel].as<std::string>());
    Counts& c = day.counts[{row[kAggWorkspace].as<std::string>(), label}];
    c.calls += n;
    c.prompt_tokens = SaturatingAdd(c.prompt_tokens, row[kAggPrompt].as<std::uint64_t>());
    c.completion_tokens = SaturatingAdd(c.completion_tokens, row[kAggCompletion].as<std::uint64_t>());
    c.cost_nanodollars = SaturatingAdd(c.cost_nanodollars, row[kAggCostNano].as<std::int64_t>());
    ApplyLatency(Latency(day, row[kAggWorkspace].as<std::string>(), label), row[kAggLatencyCode].as<int>(), n,
                 row[kAggLatencySumUs].as<std::int64_t>());
  }
  day_ = std::move(day);
  return rows;
}

void ModelsCollector::ApplyRows(std::vector<pqxx::row> fresh) {
  for (const auto& row : fresh) ApplyRow(day_, row);
}

void ModelsCollector::ApplyRow(DayState& day, const pqxx::row& row) {
  if (!row[kRowSkip].is_null()) {
    counter_.Skip(row[kRowSkip].c_str());
    return;
  }
  const std::string& label = Label(day, row[kRowModel].as<std::string>());
  Counts& c = day.counts[{row[kRowWorkspace].as<std::string>(), label}];
  ++c.calls;
  c.prompt_tokens = SaturatingAdd(c.prompt_tokens, row[kRowPrompt].as<std::uint64_t>());
  c.completion_tokens = SaturatingAdd(c.completion_tokens, row[kRowCompletion].as<std::uint64_t>());
  c.cost_nanodollars = SaturatingAdd(c.cost_nanodollars, row[kRowCostNano].as<std::int64_t>());
  ApplyLatency(Latency(day, row[kRowWorkspace].as<std::string>(), label), row[kRowLatencyCode].as<int>(), 1,
               row[kRowLatencyUs].is_null() ? 0 : row[kRowLatencyUs].as<std::int64_t>());
}

void ModelsCollector::ApplyLatency(ExactHistogram& h, int code, std::uint64_t n, std::int64_t sum_us) {
  if (code >= 0) {
    h.Add(static_cast<size_t>(code), n, sum_us);
  } else if (code != kLatencyNone) {
    counter_.Skip(LatencySkipReason(code, "missing_value"), n);
  }
}

Snapshot ModelsCollector::BuildSnapshot() const {
  FamilyBuilder calls(kCalls), tokens(kTokens), cost(kCost), latency(kLatency);
  for (const auto& [key, c] : day_.counts) {
    calls.Add({key.first, key.second}, static_cast<double>(c.calls));
    tokens.Add({key.first, key.second, "prompt"}, static_cast<double>(c.prompt_tokens));
    tokens.Add({key.first, key.second, "completion"}, static_cast<double>(c.completion_tokens));
    cost.Add({key.first, key.second}, static_cast<double>(c.cost_nanodollars) / 1e9);
  }
  for (const auto& [key, h] : day_.latency) latency.AddHistogram({key.first, key.second}, h.ToClient());
  Snapshot out;
  for (FamilyBuilder* b : {&calls, &tokens, &cost, &latency}) out.push_back(b->Take());
  counter_.AppendSelfMetrics(out);
  return out;
}


std::span<const CollectorFlag> ModelsCollector::Flags() {
  static constexpr CollectorFlag kFlags[] = {
      {{"collector.models.max-models", FlagKind::kInt, "50",
        "Models exposed by name per day; calls of further models count as model=\"other\"."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         return ParseIntFlag(v, 1, 10000, &o->models.max_models, why);
       }},
      {{"collector.models.lateness", FlagKind::kDuration, "5m",
        "How much later than its created_at a model call may commit and still be counted."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         return ParseDurationFlag(v, true, &o->models.lateness, why);
       }},
      {{"collector.models.sweep-interval", FlagKind::kDuration, "5m",
        "How often the whole lateness window of model calls is re-read when they are read by created_at (0 = never)."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         return ParseDurationFlag(v, true, &o->models.sweep_interval, why);
       }},
      {{"collector.models.read-by-id", FlagKind::kBool, "true",
        "Read new model calls by id when model_calls.id comes from a sequence with CACHE 1 the role may read; "
        "false: by created_at with sweeps."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         return ParseBoolFlag(v, &o->models.read_by_id, why);
       }},
  };
  return kFlags;
}

}  // namespace aee
