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
  FROM {schema}.model_calls m
  WHERE m.created_at >= $1::timestamptz AND m.created_at < $2::timestamptz AND {shard}
  OFFSET 0
), v AS (
  SELECT raw.*,
         CASE WHEN row_skip IS NULL THEN coalesce(round(cost_usd * 1000000000), 0)::bigint END AS cost_nano,
         {latency_code} AS latency_code
  FROM raw OFFSET 0
)
)SQL";

std::string ClassifiedRowsSql(std::string_view quoted_schema, const ShardOptions& shard) {
  std::string sql(kClassifiedRows);
  sql.replace(sql.find("{latency_code}"), 14, LatencyCodeSql("latency", "row_skip IS NOT NULL"));
  sql.replace(sql.find("{shard}"), 7, ShardSql("m.workspace_id", shard));
  return WithSchema(sql, quoted_schema);
}

// Aggregate columns: 0 workspace_id, 1 model, 2 row_skip, 3 latency_code, 4 calls,
// 5 first created_us, 6 prompt, 7 completion, 8 cost_nano, 9 latency sum_us.
std::string AggregateSql(std::string_view quoted_schema, const ShardOptions& shard) {
  return ClassifiedRowsSql(quoted_schema, shard) +
         "SELECT workspace_id::text, model, row_skip, latency_code, count(*), "
         "(extract(epoch FROM min(created_at)) * 1000000)::bigint, " +
         CappedSumSql("prompt_tokens") + ", " + CappedSumSql("completion_tokens") + ", " + CappedSumSql("cost_nano") +
         ", " + CappedSumSql(LatencyMicrosSql("latency", "latency_code")) + " FROM v GROUP BY 1, 2, 3, 4";
}

// Row columns: 0 id, 1 workspace_id, 2 model, 3 created_us, 4 row_skip, 5 prompt,
// 6 completion, 7 cost_nano, 8 latency_code, 9 latency_us.
std::string RowsSql(std::string_view quoted_schema, const ShardOptions& shard) {
  return ClassifiedRowsSql(quoted_schema, shard) +
         "SELECT id, workspace_id::text, model, (extract(epoch FROM created_at) * 1000000)::bigint, row_skip, "
         "prompt_tokens, completion_tokens, cost_nano, latency_code, " +
         LatencyMicrosSql("latency", "latency_code") + " FROM v ORDER BY created_at, model, id";
}

}  // namespace

ModelsCollector::ModelsCollector(CollectorContext ctx, ModelsCollectorOptions options)
    : ctx_(std::move(ctx)),
      options_(options),
      window_("models", {options.lateness, options.sweep_interval}, ctx_.logger),
      rows_sql_(RowsSql(ctx_.quoted_schema, ctx_.shard)),
      aggregate_sql_(AggregateSql(ctx_.quoted_schema, ctx_.shard)),
      ledger_sql_(WithSchema("SELECT id, (extract(epoch FROM created_at) * 1000000)::bigint FROM {schema}.model_calls "
                             "WHERE created_at >= $1::timestamptz AND created_at < $2::timestamptz AND " +
                                 ShardSql("workspace_id", ctx_.shard),
                             ctx_.quoted_schema)) {}

std::span<const FamilySpec> ModelsCollector::Families() { return kFamilies; }

Snapshot ModelsCollector::Collect(DbSession& db) {
  const std::int64_t now_us = ToUnixMicros(ctx_.clock->Now());
  if (window_.NeedsStart(now_us)) {
    Initialize(db, now_us);
  } else {
    Advance(db, now_us);
  }
  return BuildSnapshot();
}

const std::string& ModelsCollector::Label(DayState& day, const std::string& model) const {
  return day.named.Label(model);
}

ExactHistogram& ModelsCollector::Latency(DayState& day, const std::string& workspace, const std::string& label) const {
  return day.latency.try_emplace({workspace, label}, LatencyBuckets()).first->second;
}

void ModelsCollector::Initialize(DbSession& db, std::int64_t now_us) {
  pqxx::connection& conn = db.Get();
  DailyWindow::Bound bound;
  {
    pqxx::read_transaction tx(conn);
    SetStatementTimeout(tx, ctx_.timeout);
    RequireTable(tx, ctx_.quoted_schema, "model_calls");
    bound = window_.ReadBound(tx);
    tx.commit();
  }
  const std::int64_t day_start_us = DailyWindow::DayStart(now_us);
  const std::string from = FormatTimestampUs(day_start_us);
  const std::string to = FormatTimestampUs(day_start_us + DailyWindow::kDayUs);
  // One snapshot for the aggregate and the ledger, so every id in the ledger is
  // exactly one the aggregate counted.
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
  SetStatementTimeout(tx, ctx_.timeout);
  pqxx::result agg = tx.exec_params(aggregate_sql_, from, to);
  // The cycle's own until Start(): a failed read leaves nothing behind.
  RunLedger ledger = window_.ReadLedger(tx, "aee_models_ledger", ledger_sql_, window_.ReadAt(bound, now_us), to,
                                        DailyWindow::IdColumn::kBigint, options_.read_batch_rows);
  tx.commit();

  // The models named today: the first max_models by first call (then name), as an
  // exporter that had been running since midnight would have admitted them.
  DayState day;
  day.named = LabelCap(std::max(options_.max_models, 0));
  std::map<std::string, std::int64_t> first_call;
  std::uint64_t rows = 0;
  for (const auto& row : agg) {
    rows += row[4].as<std::uint64_t>();
    if (!row[2].is_null()) continue;
    const std::string model = row[1].as<std::string>();
    const std::int64_t first = row[5].as<std::int64_t>();
    auto [it, inserted] = first_call.try_emplace(model, first);
    if (!inserted) it->second = std::min(it->second, first);
  }
  std::vector<std::pair<std::int64_t, std::string>> order;
  for (const auto& [model, first] : first_call) order.emplace_back(first, model);
  day.named.AdmitInOrder(std::move(order));

  for (const auto& row : agg) {
    const std::uint64_t n = row[4].as<std::uint64_t>();
    if (!row[2].is_null()) {
      skipped_[row[2].as<std::string>()] += n;
      continue;
    }
    const std::string& label = Label(day, row[1].as<std::string>());
    Counts& c = day.counts[{row[0].as<std::string>(), label}];
    c.calls += n;
    c.prompt_tokens = SaturatingAdd(c.prompt_tokens, row[6].as<std::uint64_t>());
    c.completion_tokens = SaturatingAdd(c.completion_tokens, row[7].as<std::uint64_t>());
    c.cost_nanodollars = SaturatingAdd(c.cost_nanodollars, row[8].as<std::int64_t>());
    ApplyLatency(Latency(day, row[0].as<std::string>(), label), row[3].as<int>(), n, row[9].as<std::int64_t>());
  }
  window_.Start(now_us, bound, std::move(ledger));
  day_ = std::move(day);
  rows_read_startup_ += rows;
}

void ModelsCollector::Advance(DbSession& db, std::int64_t now_us) {
  const DailyWindow::Range range = window_.NextRange(now_us);
  pqxx::read_transaction tx(db.Get());
  SetStatementTimeout(tx, ctx_.timeout);
  RequireTable(tx, ctx_.quoted_schema, "model_calls");
  const DailyWindow::Bound bound = window_.ReadBound(tx);  // before the rows' snapshot
  std::uint64_t read = 0;
  const std::vector<pqxx::result> uncounted = window_.ReadUncounted(
      tx, "aee_models_rows", rows_sql_, range, DailyWindow::IdColumn::kBigint, options_.read_batch_rows, &read);
  tx.commit();

  for (const pqxx::result& batch : uncounted) {
    for (const auto& row : batch) {
      if (window_.Record(row[0].as<std::int64_t>(), row[3].as<std::int64_t>())) ApplyRow(day_, row);
    }
  }
  (range.sweep ? rows_read_sweep_ : rows_read_incremental_) += read;
  window_.Finish(range, now_us, bound);
}

void ModelsCollector::ApplyRow(DayState& day, const pqxx::row& row) {
  if (!row[4].is_null()) {
    ++skipped_[row[4].as<std::string>()];
    return;
  }
  const std::string& label = Label(day, row[2].as<std::string>());
  Counts& c = day.counts[{row[1].as<std::string>(), label}];
  ++c.calls;
  c.prompt_tokens = SaturatingAdd(c.prompt_tokens, row[5].as<std::uint64_t>());
  c.completion_tokens = SaturatingAdd(c.completion_tokens, row[6].as<std::uint64_t>());
  c.cost_nanodollars = SaturatingAdd(c.cost_nanodollars, row[7].as<std::int64_t>());
  ApplyLatency(Latency(day, row[1].as<std::string>(), label), row[8].as<int>(), 1,
               row[9].is_null() ? 0 : row[9].as<std::int64_t>());
}

void ModelsCollector::ApplyLatency(ExactHistogram& h, int code, std::uint64_t n, std::int64_t sum_us) {
  if (code >= 0) {
    h.Add(static_cast<size_t>(code), n, sum_us);
  } else if (code != kLatencyNone) {
    skipped_[LatencySkipReason(code, "missing_value")] += n;
  }
}

Snapshot ModelsCollector::BuildSnapshot() const {
  FamilyBuilder calls(kCalls), tokens(kTokens), cost(kCost), latency(kLatency), since(kCountingSince),
      skipped(kRowsSkippedFamily), ledger(kLedgerEntriesFamily), rows_read(kRowsReadFamily);
  for (const auto& [key, c] : day_.counts) {
    calls.Add({key.first, key.second}, static_cast<double>(c.calls));
    tokens.Add({key.first, key.second, "prompt"}, static_cast<double>(c.prompt_tokens));
    tokens.Add({key.first, key.second, "completion"}, static_cast<double>(c.completion_tokens));
    cost.Add({key.first, key.second}, static_cast<double>(c.cost_nanodollars) / 1e9);
  }
  for (const auto& [key, h] : day_.latency) latency.AddHistogram({key.first, key.second}, h.ToClient());
  since.Add({}, static_cast<double>(window_.day_start_us()) / 1e6);
  for (const auto& [reason, n] : skipped_) skipped.Add({"models", reason}, static_cast<double>(n));
  ledger.Add({"models"}, static_cast<double>(window_.ledger_size()));
  rows_read.Add({"models", "startup"}, static_cast<double>(rows_read_startup_));
  rows_read.Add({"models", "incremental"}, static_cast<double>(rows_read_incremental_));
  rows_read.Add({"models", "sweep"}, static_cast<double>(rows_read_sweep_));
  Snapshot out;
  for (FamilyBuilder* b : {&calls, &tokens, &cost, &latency, &since, &skipped, &ledger, &rows_read}) {
    out.push_back(b->Take());
  }
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
        "How often the whole lateness window of model calls is re-read (0 = never)."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         return ParseDurationFlag(v, true, &o->models.sweep_interval, why);
       }},
  };
  return kFlags;
}

}  // namespace aee
