#include "collectors/daily_counter.h"

#include <utility>

#include <pqxx/pqxx>

#include "core/db.h"

namespace aee {

DailyCounter::DailyCounter(Spec spec, DailyWindow::Options window, size_t read_batch_rows,
                           std::chrono::milliseconds timeout, Logger* logger)
    : spec_(std::move(spec)),
      read_batch_rows_(read_batch_rows),
      timeout_(timeout),
      window_(spec_.collector, window, logger) {}

void DailyCounter::Cycle(DbSession& db, std::int64_t now_us, Policy& policy) {
  if (window_.NeedsStart(now_us)) {
    Initialize(db, now_us, policy);
  } else {
    Advance(db, now_us, policy);
  }
}

void DailyCounter::Initialize(DbSession& db, std::int64_t now_us, Policy& policy) {
  if (spec_.announced) policy.TakeAnnounced();  // the start reads everything; lists start here
  policy.BeforeCycle();
  pqxx::connection& conn = db.Get();
  DailyWindow::Bound bound;
  {
    pqxx::read_transaction tx(conn);
    SetStatementTimeout(tx, timeout_);
    policy.Check(tx);
    if (!spec_.id_sequence_table.empty()) window_.UseIdSequence(tx, spec_.id_sequence_table, spec_.id_sequence_column);
    bound = window_.ReadBound(tx);
    tx.commit();
  }
  const std::int64_t day_start_us = DailyWindow::DayStart(now_us);
  const std::string from = FormatTimestampUs(day_start_us);
  const std::string to = FormatTimestampUs(day_start_us + DailyWindow::kDayUs);

  // One snapshot for the aggregate and the ledger, so every id in the ledger is
  // exactly one the aggregate counted.
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
  SetStatementTimeout(tx, timeout_);
  if (!spec_.aggregate_setup.empty()) tx.exec(spec_.aggregate_setup);
  const pqxx::result agg = tx.exec_params(spec_.aggregate_sql, from, to);
  // The cycle's own until Start(): a failed read leaves nothing behind.
  RunLedger ledger = window_.ReadLedger(tx, "aee_" + spec_.collector + "_ledger", spec_.ledger_sql,
                                        window_.ReadAt(bound, now_us), to, spec_.id, read_batch_rows_);
  // Reads by id reach every id from the bound's sample on, however old its timestamp.
  if (const std::optional<std::int64_t> from_id = window_.LedgerFromId(bound)) {
    ForEachBatch(tx, "aee_" + spec_.collector + "_id_ledger", spec_.id_ledger_sql,
                 {std::to_string(*from_id), from, to}, read_batch_rows_, [&](const pqxx::result& batch) {
                   for (const auto& row : batch) ledger.Insert(row[0].as<std::int64_t>(), row[1].as<std::int64_t>());
                 });
  }
  policy.ReadAlso(tx, true);
  tx.commit();

  const std::uint64_t rows = policy.StartDay(agg);
  window_.Start(now_us, bound, std::move(ledger));
  rows_read_startup_ += rows;
  policy.AfterCycle(bound);
}

void DailyCounter::Advance(DbSession& db, std::int64_t now_us, Policy& policy) {
  const std::optional<DailyWindow::Announced> announced =
      spec_.announced ? policy.TakeAnnounced() : std::nullopt;
  const DailyWindow::Range range = window_.NextRange(now_us, announced);
  // The reads of announced spans go through a prepared statement, except behind a
  // transaction pooler (it keeps none).
  const DailyWindow::RowQueries queries{
      .range = spec_.rows_sql,
      .spans = spec_.spans_rows_sql,
      .spans_prepared =
          range.spans.empty() || db.pooler() == DbPooler::kTransaction ? "" : "aee_" + spec_.collector + "_spans",
      .by_id = spec_.id_rows_sql,
      .by_id_mine = spec_.id_mine_column};
  if (!queries.spans_prepared.empty()) db.Prepare(queries.spans_prepared, spec_.spans_rows_sql + " LIMIT $5");
  policy.BeforeCycle();
  pqxx::read_transaction tx(db.Get());
  SetStatementTimeout(tx, timeout_);
  policy.Check(tx);
  std::uint64_t read = 0;
  DailyWindow::Bound bound;
  std::vector<pqxx::result> uncounted;
  std::vector<std::int64_t> ids_read;
  if (!range.announced) bound = window_.ReadBound(tx);  // before the rows' snapshot
  if (range.from_us < range.to_us) {
    uncounted = window_.ReadUncounted(tx, "aee_" + spec_.collector + "_rows", queries, range, spec_.id,
                                      read_batch_rows_, &read, &ids_read);
  }
  policy.ReadAlso(tx, false);
  tx.commit();

  policy.ApplyRows(RecordFresh(uncounted, range.by_id));
  (range.announced ? rows_read_announced_ : range.sweep ? rows_read_sweep_ : rows_read_incremental_) += read;
  window_.Finish(range, now_us, bound, announced.has_value(), ids_read);
  policy.AfterCycle(bound);
}

std::vector<pqxx::row> DailyCounter::RecordFresh(const std::vector<pqxx::result>& uncounted, bool by_id) {
  std::vector<pqxx::row> fresh;
  for (const pqxx::result& batch : uncounted) {
    for (const auto& row : batch) {
      if (by_id && !row[spec_.id_mine_column].as<bool>()) continue;  // another day's or shard's
      const std::int64_t ts_us = row[spec_.timestamp_column].as<std::int64_t>();
      const bool inserted = spec_.id == DailyWindow::IdColumn::kText
                                ? window_.Record(std::string_view(row[0].c_str()), ts_us)
                                : window_.Record(row[0].as<std::int64_t>(), ts_us);
      if (inserted) fresh.push_back(row);
    }
  }
  return fresh;
}

void DailyCounter::Skip(std::string_view reason, std::uint64_t n) {
  auto it = skipped_.find(reason);
  if (it == skipped_.end()) it = skipped_.emplace(std::string(reason), 0).first;
  it->second += n;
}

void DailyCounter::AppendSelfMetrics(Snapshot& out) const {
  FamilyBuilder since(spec_.counting_since);
  since.Add({}, static_cast<double>(window_.day_start_us()) / 1e6);
  FamilyBuilder skipped(kRowsSkippedFamily);
  for (const auto& [reason, n] : skipped_) skipped.Add({spec_.collector, reason}, static_cast<double>(n));
  FamilyBuilder ledger(kLedgerEntriesFamily);
  ledger.Add({spec_.collector}, static_cast<double>(window_.ledger_size()));
  FamilyBuilder rows_read(kRowsReadFamily);
  rows_read.Add({spec_.collector, "startup"}, static_cast<double>(rows_read_startup_));
  rows_read.Add({spec_.collector, "incremental"}, static_cast<double>(rows_read_incremental_));
  rows_read.Add({spec_.collector, "sweep"}, static_cast<double>(rows_read_sweep_));
  if (spec_.announced) {
    rows_read.Add({spec_.collector, "announced"}, static_cast<double>(rows_read_announced_));
  }
  for (FamilyBuilder* b : {&since, &skipped, &ledger, &rows_read}) out.push_back(b->Take());
}

}  // namespace aee
