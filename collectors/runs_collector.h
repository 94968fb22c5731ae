#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "collectors/collector.h"
#include "collectors/daily_window.h"

namespace pqxx {
class row;
class transaction_base;
}

namespace aee {

/// Options of the runs collector (flags --collector.runs.*).
struct RunsCollectorOptions {
  /// How much later than its finished_at a run may commit and still be counted.
  std::chrono::milliseconds lateness{std::chrono::minutes(5)};
  /// How often the whole lateness window is re-read to catch late commits whose
  /// finished_at was stamped by the application rather than the database; 0 = never.
  std::chrono::milliseconds sweep_interval{std::chrono::minutes(5)};
  /// Add agent_id to the latency histograms (off: workspace_id only).
  bool agent_histograms = false;
  /// Rows fetched per round trip when reading rows (ForEachBatch).
  size_t read_batch_rows = 2000;
};

/// Finished-run counters and latency histograms, counted exactly once from
/// database facts and anchored to 00:00 UTC of the current day.
///
/// Start-up (and each midnight) computes today's figures with one aggregate query;
/// after that each cycle reads only the rows finished since its frontier, where
/// the frontier is the start of the oldest transaction that was open when the
/// previous cycle read (so late commits with database-stamped finished_at are seen
/// at once), clamped to the lateness window. A periodic sweep re-reads the whole
/// lateness window for application-stamped timestamps. A ledger of run ids counted
/// inside the window makes overlapping reads count every run once.
class RunsCollector final : public Collector {
 public:
  RunsCollector(CollectorContext ctx, RunsCollectorOptions options);
  Snapshot Collect(DbSession& db) override;

  /// Every family this collector can expose (docs and tests loop over it).
  static std::span<const FamilySpec> Families();

 private:
  struct AgentCounts {
    std::uint64_t completed = 0;
    std::uint64_t failed = 0;
    std::uint64_t cancelled = 0;
    std::int64_t runtime_us = 0;
  };
  struct Histograms {
    Histograms();
    ExactHistogram queue_wait;
    ExactHistogram runtime;
    ExactHistogram end_to_end;
  };
  using Key = std::pair<std::string, std::string>;  // workspace_id, agent_id
  struct DayState {
    std::map<Key, AgentCounts> agents;
    std::map<Key, Histograms> histograms;  // agent_id "" unless agent_histograms
  };

  void Initialize(DbSession& db, std::int64_t now_us);
  void Advance(DbSession& db, std::int64_t now_us);
  void ApplyRow(DayState& day, const pqxx::row& row);
  void ApplyAggregate(DayState& day, const pqxx::row& row);
  /// Adds n observations of one latency (kLatencies index) with the given code.
  void ApplyLatency(AgentCounts& counts, Histograms& h, size_t latency, int code, std::uint64_t n,
                    std::int64_t sum_us);
  void ReadKnownAgents(pqxx::transaction_base& tx);
  Snapshot BuildSnapshot() const;
  Key HistogramKey(const std::string& workspace, const std::string& agent) const;

  CollectorContext ctx_;
  RunsCollectorOptions options_;
  DailyWindow window_;
  std::string rows_sql_;
  std::string aggregate_sql_;
  std::string ledger_sql_;
  std::string agents_sql_;

  DayState day_;
  std::vector<Key> known_agents_;
  std::map<std::string, std::uint64_t> skipped_;  // reason -> rows (process lifetime)
  std::uint64_t rows_read_startup_ = 0;
  std::uint64_t rows_read_incremental_ = 0;
  std::uint64_t rows_read_sweep_ = 0;
};

}  // namespace aee
