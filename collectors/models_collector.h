#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "collectors/collector.h"
#include "collectors/daily_counter.h"
#include "collectors/label_cap.h"

namespace aee {

/// Options of the models collector (flags --collector.models.*).
struct ModelsCollectorOptions {
  /// Models exposed by name each day; calls of further models count as model="other".
  int max_models = 50;
  /// How much later than its created_at a call may commit and still be counted.
  std::chrono::milliseconds lateness{std::chrono::minutes(5)};
  /// How often the whole lateness window is re-read (application-stamped created_at)
  /// while calls are read by created_at; 0 = never.
  std::chrono::milliseconds sweep_interval{std::chrono::minutes(5)};
  /// Read new calls by id when model_calls.id comes from a usable sequence
  /// (DailyWindow::UseIdSequence): late commits count at once, no sweeps.
  bool read_by_id = true;
  /// Rows fetched per round trip when reading rows (ForEachBatch).
  size_t read_batch_rows = 2000;

  bool operator==(const ModelsCollectorOptions&) const = default;
};

/// Model calls, tokens, cost and call latency since 00:00 UTC, counted exactly
/// once from model_calls with the same frontier, sweep and ledger as the runs
/// collector (DailyCounter), keyed by created_at and the bigint id.
///
/// The models named in the day are the first max_models by first call of the day
/// (created_at, then name); later ones are folded into model="other" for the rest
/// of the day, so the series set is bounded and the same on every replica.
class ModelsCollector final : public Collector, private DailyCounter::Policy {
 public:
  ModelsCollector(CollectorContext ctx, ModelsCollectorOptions options);
  Snapshot Collect(DbSession& db) override;
  static std::span<const FamilySpec> Families();
  /// Its flags (--collector.models.*).
  static std::span<const CollectorFlag> Flags();

  /// The label value of the calls of models past the cap.
  static constexpr std::string_view kOther = LabelCap::kOther;

 private:
  struct Counts {
    std::uint64_t calls = 0;
    std::uint64_t prompt_tokens = 0;
    std::uint64_t completion_tokens = 0;
    std::int64_t cost_nanodollars = 0;
  };
  using Key = std::pair<std::string, std::string>;  // workspace_id, model label
  struct DayState {
    std::map<Key, Counts> counts;
    // By workspace and model label: as many series as the calls counters have.
    std::map<std::pair<std::string, std::string>, ExactHistogram> latency;
    LabelCap named;  // models exposed by name today
  };

  // DailyCounter::Policy: model_calls must exist.
  void Check(pqxx::transaction_base& tx) override;
  std::uint64_t StartDay(const pqxx::result& agg) override;
  void ApplyRows(std::vector<pqxx::row> fresh) override;

  const std::string& Label(DayState& day, const std::string& model) const;
  ExactHistogram& Latency(DayState& day, const std::string& workspace, const std::string& label) const;
  void ApplyRow(DayState& day, const pqxx::row& row);
  /// Adds n latency observations with the given LatencyCode (skips counted by reason).
  void ApplyLatency(ExactHistogram& h, int code, std::uint64_t n, std::int64_t sum_us);
  Snapshot BuildSnapshot() const;

  CollectorContext ctx_;
  ModelsCollectorOptions options_;
  DailyCounter counter_;

  DayState day_;
};

}  // namespace aee
