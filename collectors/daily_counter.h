#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collectors/collector.h"
#include "collectors/daily_window.h"

namespace pqxx {
class result;
class row;
class transaction_base;
}

namespace aee {

class DbSession;

/// The cycle of a daily-anchored, exactly-once counter (runs, model calls): at
/// start-up and each 00:00 UTC one aggregate of the day, read in the snapshot that
/// fills the ledger; after that incremental reads from the DailyWindow's frontier
/// plus its periodic sweep, each row counted once; with a change feed that missed
/// nothing, from the oldest announced timestamp instead. It also keeps the self-metrics
/// every such counter exposes: rows read by scan, rows skipped by reason, ledger
/// entries and the start of the counted day.
///
/// What differs between the counters (their SQL, how a row or an aggregate row
/// counts, their families) comes from the collector: the Spec and a Policy it
/// passes to each Cycle().
class DailyCounter {
 public:
  /// The collector's side of a cycle. Hooks run in this order: BeforeCycle (no
  /// transaction open), Check (first transaction), ReadAlso (the rows'
  /// transaction, after the rows), then StartDay or ApplyRows once it committed,
  /// then AfterCycle.
  class Policy {
   public:
    virtual ~Policy() = default;
    /// Before the cycle opens a transaction (state that must be taken before the
    /// rows' snapshot).
    virtual void BeforeCycle() {}
    /// Before BeforeCycle, with Spec::announced: what a change feed announced since
    /// the previous cycle asked; nullopt when it cannot say (no feed, or something
    /// may have been missed). Called every cycle.
    virtual std::optional<DailyWindow::Announced> TakeAnnounced() { return std::nullopt; }
    /// In the cycle's first transaction, before the frontier is read: throw
    /// CollectorUnavailable when the table is missing.
    virtual void Check(pqxx::transaction_base& /*tx*/) {}
    /// In the rows' transaction after the rows (start-up: after the aggregate and
    /// the ledger): other tables read in the same snapshot.
    virtual void ReadAlso(pqxx::transaction_base& /*tx*/, bool /*startup*/) {}
    /// Replaces the day's figures by the aggregate agg (Spec::aggregate_sql over
    /// the whole UTC day); returns how many table rows it covered.
    virtual std::uint64_t StartDay(const pqxx::result& agg) = 0;
    /// Counts the rows (Spec::rows_sql) an incremental cycle read that were not
    /// counted before, in the order they were read.
    virtual void ApplyRows(std::vector<pqxx::row> fresh) = 0;
    /// After the cycle's state was committed, with what the frontier read said.
    virtual void AfterCycle(const DailyWindow::Bound& /*bound*/) {}
  };

  struct Spec {
    /// The collector's name: the `collector` label and the cursors' names.
    std::string collector;
    /// How the first column of rows_sql and ledger_sql holds the id.
    DailyWindow::IdColumn id = DailyWindow::IdColumn::kText;
    /// The rows_sql column holding the row's timestamp in microseconds.
    int timestamp_column = 0;
    /// Parameters from, to: the classified rows (id first).
    std::string rows_sql;
    /// rows_sql limited to spans of timestamps (parameters from, to, and the spans'
    /// lower and upper bounds as timestamptz[]): the reads of announced rows.
    std::string spans_rows_sql;
    /// The collector has a change feed (Policy::TakeAnnounced).
    bool announced = false;
    /// The table (as SQL writes it) and column whose sequence hands out the ids:
    /// new rows are read by id when it qualifies (DailyWindow::UseIdSequence);
    /// empty: by timestamp.
    std::string id_sequence_table;
    std::string id_sequence_column;
    /// Parameters from, to, lowest id, high id, gaps (bigint[]): the classified rows
    /// at or above the lowest id and either at or above the high id or a gap, of
    /// every day and workspace, with id_mine_column true for those to count (the
    /// day's, this shard's). DailyWindow::Range::by_id.
    std::string id_rows_sql;
    int id_mine_column = 0;
    /// Parameters lowest id, from, to: id and timestamp in microseconds of the day's
    /// rows from an id on (the start-up ledger's part a read by id can reach).
    std::string id_ledger_sql;
    /// Parameters from, to: the start-up aggregate.
    std::string aggregate_sql;
    /// Parameters from, to: id and timestamp in microseconds (DailyWindow::ReadLedger).
    std::string ledger_sql;
    /// Run in the start-up transaction before the aggregate when not empty
    /// (a SET LOCAL).
    std::string aggregate_setup;
    /// Start of the period the counters cover (a gauge without labels).
    FamilySpec counting_since;
  };

  DailyCounter(Spec spec, DailyWindow::Options window, size_t read_batch_rows, std::chrono::milliseconds timeout,
               Logger* logger);

  /// Whether new rows are read by id at present.
  bool reads_by_id() const { return window_.reads_by_id(); }

  /// One cycle at now_us: a (re)start at the first cycle and when the UTC day
  /// changed, else an incremental read. A cycle that throws changes nothing the
  /// next one relies on.
  void Cycle(DbSession& db, std::int64_t now_us, Policy& policy);

  /// Counts n rows or observations skipped for reason (process lifetime).
  void Skip(std::string_view reason, std::uint64_t n = 1);

  /// Appends the counting-since gauge, the skipped, ledger and rows-read families.
  void AppendSelfMetrics(Snapshot& out) const;

 private:
  void Initialize(DbSession& db, std::int64_t now_us, Policy& policy);
  void Advance(DbSession& db, std::int64_t now_us, Policy& policy);
  /// Records the rows of uncounted in the ledger; returns those not counted before
  /// (of a read by id, only the rows to count).
  std::vector<pqxx::row> RecordFresh(const std::vector<pqxx::result>& uncounted, bool by_id);

  Spec spec_;
  size_t read_batch_rows_;
  std::chrono::milliseconds timeout_;
  DailyWindow window_;
  std::map<std::string, std::uint64_t, std::less<>> skipped_;  // reason -> rows (process lifetime)
  std::uint64_t rows_read_startup_ = 0;
  std::uint64_t rows_read_incremental_ = 0;
  std::uint64_t rows_read_sweep_ = 0;
  std::uint64_t rows_read_announced_ = 0;
};

}  // namespace aee
