#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "collectors/collector.h"
#include "collectors/daily_counter.h"
#include "collectors/label_cap.h"

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
  /// Agents exposed by name per workspace each day; runs of further agents count
  /// as agent_id="other" (0 = no cap). --collector.agents.max-per-workspace.
  int max_agents_per_workspace = 0;
  /// false: no agent_id label at all, the counters are per workspace
  /// (--collector.agents.per-agent-label=false; turns agent_histograms off).
  bool per_agent_label = true;

  bool operator==(const RunsCollectorOptions&) const = default;
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
/// inside the window makes overlapping reads count every run once. With a change
/// feed that missed nothing since the last sweep, a cycle reads the runs at the
/// finished_at times the triggers announced since the previous one (from the oldest
/// of them when there were too many to keep; nothing when none), without the
/// frontier or sweeps.
class RunsCollector final : public Collector, private DailyCounter::Policy {
 public:
  RunsCollector(CollectorContext ctx, RunsCollectorOptions options);
  Snapshot Collect(DbSession& db) override;

  /// Every family this collector can expose (docs and tests loop over it).
  static std::span<const FamilySpec> Families();
  /// Its flags (--collector.runs.*, --collector.agents.*).
  static std::span<const CollectorFlag> Flags();
  /// Times the agents table was read since start-up (tests, bench).
  std::uint64_t agents_reads() const { return agents_reads_; }

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
    std::map<std::string, LabelCap, std::less<>> named;  // per workspace: agents exposed by name today
  };

  // DailyCounter::Policy: the agents table read beside the rows, the replay lag.
  void BeforeCycle() override;
  std::optional<DailyWindow::Announced> TakeAnnounced() override;
  void ReadAlso(pqxx::transaction_base& tx, bool startup) override;
  std::uint64_t StartDay(const pqxx::result& agg) override;
  void ApplyRows(std::vector<pqxx::row> fresh) override;
  void AfterCycle(const DailyWindow::Bound& bound) override;

  void ApplyRow(DayState& day, const pqxx::row& row);
  void ApplyAggregate(DayState& day, const pqxx::row& row);
  /// Adds n observations of one latency (kLatencies index) with the given code.
  void ApplyLatency(AgentCounts& counts, Histograms& h, size_t latency, int code, std::uint64_t n,
                    std::int64_t sum_us);
  /// The feed's agents generation while it can be trusted (read before a cycle's
  /// snapshot); nullopt = no feed, or not connected, or triggers not verified.
  std::optional<std::uint64_t> TrustedAgentsGeneration() const;
  /// Reads the agents table unless the change feed says it did not change since
  /// the last read (always when `always`). feed_generation was taken before tx.
  void ReadKnownAgents(pqxx::transaction_base& tx, bool always, std::optional<std::uint64_t> feed_generation);
  Snapshot BuildSnapshot() const;
  Key HistogramKey(const std::string& workspace, const std::string& agent) const;
  /// The agent_id label of agent's runs in workspace: itself, "other" past the cap
  /// (admitting it when there is room), "" without per-agent labels.
  std::string AgentLabel(DayState& day, const std::string& workspace, const std::string& agent) const;
  /// Admits the day's agents in the order of their first finished run (start-up).
  void AdmitAgents(DayState& day, const pqxx::result& agg) const;

  CollectorContext ctx_;
  RunsCollectorOptions options_;
  DailyCounter counter_;
  std::string agents_sql_;

  DayState day_;
  std::vector<Key> known_agents_;
  std::optional<std::uint64_t> agents_generation_;  // the feed's, when known_agents_ was read
  std::optional<std::uint64_t> cycle_generation_;   // the feed's, taken before this cycle's transactions
  std::uint64_t agents_reads_ = 0;
  double replay_lag_s_ = -1;  // the standby's replay lag at the last cycle; <0: not a standby
};

}  // namespace aee
