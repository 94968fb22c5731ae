#include "collectors/daily_window.h"

#include <algorithm>
#include <limits>

#include <pqxx/pqxx>

#include "collectors/collector.h"
#include "core/log.h"

namespace aee {
namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;

// The oldest start of any other open transaction in this database. A row that is
// invisible to the snapshot taken after this read was written by a transaction
// open now or started later, so a timestamp stamped by the database (now(),
// clock_timestamp()) cannot be older than this. Without pg_read_all_stats other
// roles' xact_start reads as NULL, so the bound is only trusted with it.
//
// On a hot standby the writers are on the primary: what counts there is how far
// the standby replayed. A row invisible to the later snapshot committed after the
// last commit replayed now (commit records replay in order), or, before any was
// replayed since the standby started, after the checkpoint it restarted from. The
// lag is the usual one: 0 when everything received is replayed, else the age of
// the last replayed commit.
constexpr std::string_view kBoundSql = R"SQL(
SELECT (extract(epoch FROM min(xact_start)) * 1000000)::bigint,
       NOT pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER'),
       pg_is_in_recovery(),
       CASE WHEN pg_is_in_recovery() THEN
         (extract(epoch FROM greatest(pg_last_xact_replay_timestamp(),
                                      (pg_control_checkpoint()).checkpoint_time)) * 1000000)::bigint END,
       CASE WHEN pg_is_in_recovery() THEN
         CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0::float8
              ELSE greatest(0, extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()))::float8 END END,
       (extract(epoch FROM statement_timestamp()) * 1000000)::bigint
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
)SQL";

// The sequence owning an id column (serial or identity), as SQL writes its name,
// and what decides whether its samples bound the ids handed out later.
constexpr std::string_view kIdSequenceSql = R"SQL(
SELECT q.name, s.seqincrement, s.seqcache, s.seqcycle, has_sequence_privilege(s.seqrelid, 'SELECT')
FROM (SELECT pg_get_serial_sequence($1, $2) AS name) q
JOIN pg_sequence s ON s.seqrelid = q.name::regclass
)SQL";

}  // namespace

DailyWindow::DailyWindow(std::string collector, Options options, Logger* logger)
    : collector_(std::move(collector)), options_(options), logger_(logger) {}

std::int64_t DailyWindow::DayStart(std::int64_t us) {
  std::int64_t d = us / kDayUs;
  if (us < 0 && us % kDayUs != 0) --d;
  return d * kDayUs;
}

void DailyWindow::UseIdSequence(pqxx::transaction_base& tx, std::string_view quoted_table, std::string_view column) {
  const pqxx::result r = tx.exec_params(std::string(kIdSequenceSql), std::string(quoted_table), std::string(column));
  std::string refusal;
  const std::string what = std::string(quoted_table) + "." + std::string(column);
  if (r.empty()) {
    refusal = "no sequence hands out " + what;
  } else if (r[0][1].as<std::int64_t>() != 1) {
    // Also INCREMENT BY 50 and such: ORMs that fetch a block of ids ahead
    // (allocation sizes above 1) hand out ids below a later sample.
    refusal = "the sequence of " + what + " steps by " + r[0][1].as<std::string>() +
              " (ids may be handed out ahead of their rows)";
  } else if (r[0][3].as<bool>()) {
    refusal = "the sequence of " + what + " cycles";
  } else if (r[0][2].as<std::int64_t>() != 1) {
    refusal = "the sequence of " + what + " caches " + r[0][2].as<std::string>() +
              " values a session (ALTER SEQUENCE " + r[0][0].as<std::string>() + " CACHE 1 to read by id)";
  } else if (!r[0][4].as<bool>()) {
    refusal = "the role may not read the sequence of " + what + " (GRANT SELECT ON SEQUENCE " +
              r[0][0].as<std::string>() + " to read by id)";
  }
  const std::string sequence = refusal.empty() ? r[0][0].as<std::string>() : "";
  if (logger_ != nullptr && (refusal != id_refusal_ || sequence != id_sequence_)) {
    if (refusal.empty()) {
      logger_->Log(LogLevel::kInfo, "reading new rows by id: late commits are counted at once, without sweeps",
                   {{"collector", collector_}, {"sequence", sequence}});
    } else {
      logger_->Log(LogLevel::kInfo, "reading new rows by timestamp with sweeps: " + refusal,
                   {{"collector", collector_}});
    }
  }
  id_refusal_ = refusal;
  if (sequence != id_sequence_) id_samples_.clear();
  id_sequence_ = sequence;
}

DailyWindow::Bound DailyWindow::ReadBound(pqxx::transaction_base& tx) {
  std::optional<IdSample> sample;
  if (!id_sequence_.empty()) {
    try {
      // The clock after the value: every id handed out after that time is at or
      // above the next value (one value cached a session).
      const pqxx::row v = tx.exec1(
          "SELECT CASE WHEN is_called AND last_value < 9223372036854775807 THEN last_value + 1 ELSE last_value END, "
          "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint FROM " + id_sequence_);
      sample = IdSample{.db_us = v[1].as<std::int64_t>(), .next_id = v[0].as<std::int64_t>()};
    } catch (const pqxx::sql_error& e) {
      // Dropped, renamed or no longer readable since the start-up: this cycle
      // fails, the next ones read by timestamp (with sweeps) until the next start.
      if (logger_ != nullptr) {
        logger_->Log(LogLevel::kWarn,
                     "the id sequence can no longer be read; reading new rows by timestamp with sweeps until the "
                     "next start-up or midnight: " + std::string(e.what()),
                     {{"collector", collector_}, {"sequence", id_sequence_}});
      }
      id_sequence_.clear();
      id_samples_.clear();
      id_from_.reset();
      gaps_known_ = false;
      throw;
    }
  }
  pqxx::row r = tx.exec1(std::string(kBoundSql));
  Bound b;
  b.db_now_us = r[5].as<std::int64_t>();
  b.id_sample = sample;
  if (!r[0].is_null()) b.oldest_xact_us = r[0].as<std::int64_t>();
  b.hidden_sessions = r[1].as<bool>();
  b.standby = r[2].as<bool>();
  if (b.standby) {
    if (!r[3].is_null()) b.replay_us = r[3].as<std::int64_t>();
    if (!r[4].is_null()) b.replay_lag_s = r[4].as<double>();
    if (standby_ != b.standby && logger_ != nullptr) {
      logger_->Log(LogLevel::kInfo,
                   "reading a hot standby: each cycle re-reads the lateness window back from the standby's "
                   "replay point (the primary's open transactions are not visible here)",
                   {{"collector", collector_}});
    }
    return b;  // its sessions say nothing of the primary's transactions
  }
  if (b.hidden_sessions && !warned_hidden_ && logger_ != nullptr) {
    warned_hidden_ = true;
    logger_->Log(LogLevel::kInfo,
                 "pg_stat_activity hides other roles' transactions; late commits are counted "
                 "by the periodic sweep instead of at once (grant pg_read_all_stats to the "
                 "exporter's role to count them at once)",
                 {{"collector", collector_}});
  }
  return b;
}

std::int64_t DailyWindow::ReadAt(const Bound& bound, std::int64_t now_us) const {
  if (!bound.standby) return now_us;
  // Nothing known about the replay point: a (re)start counts from the day's start.
  std::int64_t at = bound.replay_us != 0 ? std::min(bound.replay_us, now_us) : DayStart(now_us);
  if (started_) at = std::max(at, last_read_us_);
  return at;
}

std::int64_t DailyWindow::NextBound(const Bound& bound, std::int64_t read_at_us) const {
  // A standby: the primary's transactions may have begun up to the lateness
  // before the replay point and still commit (the fixed-window fallback).
  if (bound.standby) return read_at_us - duration_cast<microseconds>(options_.lateness).count();
  if (bound.hidden_sessions || bound.oldest_xact_us == 0) return read_at_us;
  return std::min(bound.oldest_xact_us, read_at_us);
}

std::int64_t DailyWindow::LedgerFrom(std::int64_t now_us) const {
  const std::int64_t horizon_us =
      duration_cast<microseconds>(options_.lateness + options_.sweep_interval).count() + 2 * kClockSlackUs;
  return std::max(DayStart(now_us), now_us - horizon_us);
}

void DailyWindow::Start(std::int64_t now_us, const Bound& bound, RunLedger ledger) {
  const std::int64_t read_at_us = ReadAt(bound, now_us);
  day_start_us_ = DayStart(now_us);
  ledger_ = std::move(ledger);
  last_read_us_ = read_at_us;
  bound_us_ = NextBound(bound, read_at_us);
  last_sweep_us_ = read_at_us;
  announced_since_sweep_ = true;  // until a cycle's list is incomplete
  standby_ = bound.standby;
  started_ = true;
  id_samples_.clear();  // the ledger holds the ids from this bound's sample on
  NoteIdSample(bound);
  id_covered_ = true;   // the aggregate counted everything visible
  // Mapped to this very sample: nothing below it was invisible to the aggregate.
  gaps_.clear();
  gaps_known_ = id_from_.has_value();
  gaps_hi_ = id_from_.value_or(0);
}

bool DailyWindow::MapsIds(const Bound& bound) {
  // A sample and a frontier to map to it: a standby shows none of the primary's
  // transactions, hidden sessions not all of them.
  return bound.id_sample && !bound.standby && !bound.hidden_sessions;
}

void DailyWindow::NoteIdSample(const Bound& bound) {
  id_from_.reset();
  if (!MapsIds(bound)) {
    id_samples_.clear();
    return;
  }
  if (!id_samples_.empty() && bound.id_sample->next_id < id_samples_.back().next_id) {
    id_samples_.clear();  // the sequence was set back: earlier samples bound nothing
    id_covered_ = false;
  }
  id_samples_.push_back(*bound.id_sample);
  if (id_samples_.size() > kMaxIdSamples) id_samples_.pop_front();
  // Every transaction that may still commit began at or after this (clamped like
  // the timestamp frontier, so a forgotten open session cannot pin the reads).
  const std::int64_t lateness_us = duration_cast<microseconds>(options_.lateness).count();
  const std::int64_t began_us = bound.oldest_xact_us != 0 ? std::min(bound.oldest_xact_us, bound.db_now_us)
                                                          : bound.db_now_us;
  const std::int64_t frontier_us = std::max(began_us, bound.db_now_us - lateness_us - kClockSlackUs);
  // The newest sample taken at or before the frontier; older ones are not needed.
  while (id_samples_.size() >= 2 && id_samples_[1].db_us <= frontier_us) id_samples_.pop_front();
  if (id_samples_.front().db_us <= frontier_us) id_from_ = id_samples_.front().next_id;
}

void DailyWindow::NoteGaps(const Range& range, const Bound& bound, const std::vector<std::int64_t>& ids_read) {
  // What this read could not see: the gaps it read and the ids from its hi_id to
  // its sample, less those it read. Only a read by id that knows its sample and the
  // next frontier's id can say.
  const bool known = range.by_id && id_from_ && bound.id_sample && bound.id_sample->next_id >= range.hi_id &&
                     bound.id_sample->next_id - range.hi_id <= kMaxGapSpan;
  gaps_known_ = false;
  gaps_.clear();
  if (!known) return;
  const std::int64_t lo = *id_from_;  // below: transactions that ended
  auto unseen = [&](std::int64_t id) { return id >= lo && !std::binary_search(ids_read.begin(), ids_read.end(), id); };
  for (const std::int64_t g : range.gaps) {
    if (unseen(g)) gaps_.push_back(g);
  }
  for (std::int64_t id = std::max(range.hi_id, lo); id < bound.id_sample->next_id; ++id) {
    if (!unseen(id)) continue;
    if (gaps_.size() >= kMaxGaps) {
      gaps_.clear();
      return;  // the next read by id reads everything from its frontier's id
    }
    gaps_.push_back(id);
  }
  gaps_hi_ = bound.id_sample->next_id;
  gaps_known_ = true;
}

std::int64_t DailyWindow::KeepFromId() const {
  // A later read by id starts at a sample kept now, or a newer (larger) one.
  return id_samples_.empty() ? std::numeric_limits<std::int64_t>::max() : id_samples_.front().next_id;
}

std::optional<std::int64_t> DailyWindow::LedgerFromId(const Bound& bound) const {
  if (id_sequence_.empty() || !MapsIds(bound)) return std::nullopt;
  return bound.id_sample->next_id;
}

DailyWindow::Range DailyWindow::NextRange(std::int64_t now_us, const std::optional<Announced>& announced) const {
  const std::int64_t lateness_us = duration_cast<microseconds>(options_.lateness).count();
  const std::int64_t sweep_from_us = last_sweep_us_ - lateness_us - kClockSlackUs;
  Range r;
  r.to_us = day_start_us_ + kDayUs;
  if (announced && announced_since_sweep_ && !standby_) {
    // Every row committed since the last read was announced, and every one before
    // it was read: the rows to count are at or after the oldest announced time.
    r.announced = true;
    r.from_us = announced->oldest_us ? std::max({*announced->oldest_us, sweep_from_us, day_start_us_}) : r.to_us;
    if (announced->times) {
      for (const std::int64_t t : *announced->times) {
        if (t < r.from_us || t >= r.to_us) continue;
        if (!r.spans.empty() && t - r.spans.back().hi_us <= kSpanGapUs) {
          r.spans.back().hi_us = t;
        } else {
          r.spans.push_back({t, t});
        }
      }
      if (r.spans.empty()) r.from_us = r.to_us;
    }
    return r;
  }
  if (id_from_ && id_covered_ && !standby_) {
    // Every row not counted yet is at or above the frontier's id, whatever its
    // timestamp: no sweeps.
    r.by_id = true;
    r.from_id = *id_from_;
    r.hi_id = *id_from_;
    if (gaps_known_ && gaps_hi_ >= r.from_id) {
      // Only what the last read could not see: gaps at or above the frontier's id
      // (those below belong to transactions that ended without committing them)
      // and everything from its sample on.
      r.hi_id = gaps_hi_;
      r.gaps.assign(std::lower_bound(gaps_.begin(), gaps_.end(), r.from_id), gaps_.end());
      // A gap costs an index descent (about 3 buffers), an id of a range a tenth of
      // a buffer or so: the gaps where they are at least one in kGapDensity ids are
      // read as part of the range instead.
      size_t keep = r.gaps.size();
      for (size_t i = r.gaps.size(); i-- > 0;) {
        if (r.hi_id - r.gaps[i] <= kGapDensity * static_cast<std::int64_t>(r.gaps.size() - i)) keep = i;
      }
      if (keep < r.gaps.size()) {
        r.hi_id = r.gaps[keep];
        r.gaps.resize(keep);
      }
    }
    r.from_us = day_start_us_;
    return r;
  }
  // Fast path: everything that was invisible at the last read is at or after its
  // bound (clamped to the lateness window, so a forgotten open session cannot make
  // every cycle read hours of rows).
  r.from_us = std::max(bound_us_, last_read_us_ - lateness_us) - kClockSlackUs;
  // On a standby every read covers the lateness window already. A read that
  // reaches back as far as the sweep would is one; and a complete list after a gap
  // asks for one now, from which on the announced times cover everything.
  r.sweep = !standby_ && ((options_.sweep_interval.count() > 0 &&
                           now_us - last_sweep_us_ >= duration_cast<microseconds>(options_.sweep_interval).count()) ||
                          r.from_us <= sweep_from_us || announced.has_value() ||
                          // reading by id can start once a read left nothing behind
                          (id_from_.has_value() && options_.sweep_interval.count() > 0));
  if (r.sweep) r.from_us = std::min(r.from_us, sweep_from_us);
  r.from_us = std::max(r.from_us, day_start_us_);
  return r;
}

RunLedger DailyWindow::ReadLedger(pqxx::transaction_base& tx, std::string_view cursor, std::string_view sql,
                                  std::int64_t now_us, const std::string& to, IdColumn id, size_t batch_rows) const {
  RunLedger ledger;
  ForEachBatch(tx, cursor, sql, {FormatTimestampUs(LedgerFrom(now_us)), to}, batch_rows, [&](const pqxx::result& batch) {
    for (const auto& row : batch) {
      const std::int64_t ts_us = row[1].as<std::int64_t>();
      if (id == IdColumn::kText) {
        ledger.Insert(row[0].c_str(), ts_us);
      } else {
        ledger.Insert(row[0].as<std::int64_t>(), ts_us);
      }
    }
  });
  return ledger;
}

std::vector<pqxx::result> DailyWindow::ReadUncounted(pqxx::transaction_base& tx, std::string_view cursor,
                                                     const RowQueries& sql, const Range& range, IdColumn id,
                                                     size_t batch_rows, std::uint64_t* rows_read,
                                                     std::vector<std::int64_t>* ids_read) const {
  std::vector<pqxx::result> uncounted;
  const auto keep_uncounted = [&](const pqxx::result& batch) {
    *rows_read += batch.size();
    for (const auto& row : batch) {
      const bool known = id == IdColumn::kText ? ledger_.Contains(row[0].c_str())
                                               : ledger_.Contains(row[0].as<std::int64_t>());
      if (!known) {
        uncounted.push_back(batch);
        return;
      }
    }
  };
  const std::string from = FormatTimestampUs(range.from_us);
  const std::string to = FormatTimestampUs(range.to_us);
  if (range.by_id) {
    std::string gaps = "{";
    for (const std::int64_t g : range.gaps) gaps += (gaps.size() > 1 ? "," : "") + std::to_string(g);
    gaps += "}";
    ForEachBatch(tx, cursor, sql.by_id,
                 {from, to, std::to_string(range.from_id), std::to_string(range.hi_id), gaps}, batch_rows,
                 [&](const pqxx::result& batch) {
                   keep_uncounted(batch);
                   for (const auto& row : batch) {
                     ids_read->push_back(row[0].as<std::int64_t>());
                     // another day's or shard's: read to see its id, not counted as read
                     if (!row[sql.by_id_mine].as<bool>()) --*rows_read;
                   }
                 });
    std::sort(ids_read->begin(), ids_read->end());
    return uncounted;
  }
  if (range.spans.empty()) {
    ForEachBatch(tx, cursor, sql.range, {from, to}, batch_rows, keep_uncounted);
    return uncounted;
  }
  // timestamptz[] literals: {"2026-12-01 15:34:00.123456+00",...}
  std::string lo = "{", hi = "{";
  for (const Span& span : range.spans) {
    lo += (lo.size() > 1 ? ",\"" : "\"") + FormatTimestampUs(span.lo_us) + "\"";
    hi += (hi.size() > 1 ? ",\"" : "\"") + FormatTimestampUs(span.hi_us) + "\"";
  }
  lo += "}";
  hi += "}";
  batch_rows = std::max<size_t>(batch_rows, 1);
  if (!sql.spans_prepared.empty()) {
    // Planning this statement took 0.55 ms a cycle at 10 M runs, as long as
    // reading the few hundred rows; a prepared one is planned once. Left to choose,
    // PostgreSQL would plan each execution anyway (a custom plan's estimate for a
    // few seconds of rows is always below the generic plan's). The generic plan is
    // the same nested loop of index range scans (docs/benchmarks.md). The setting
    // holds to the end of the transaction; what follows are simple lookups.
    if (tx.conn().server_version() >= 120000) tx.exec("SET LOCAL plan_cache_mode = force_generic_plan");
    const pqxx::result rows = tx.exec_prepared(sql.spans_prepared, from, to, lo, hi, batch_rows);
    if (rows.size() < batch_rows) {
      keep_uncounted(rows);
      return uncounted;
    }
    *rows_read += rows.size();  // a full limit: read again, in batches
  }
  ForEachBatch(tx, cursor, sql.spans, {from, to, lo, hi}, batch_rows, keep_uncounted);
  return uncounted;
}

void DailyWindow::Finish(const Range& range, std::int64_t now_us, const Bound& bound, bool announced,
                         const std::vector<std::int64_t>& ids_read) {
  const std::int64_t lateness_us = duration_cast<microseconds>(options_.lateness).count();
  const std::int64_t read_at_us = ReadAt(bound, now_us);
  last_read_us_ = read_at_us;
  // An announced read knows no frontier: a range read after it goes back the
  // whole lateness window (and so is a sweep).
  bound_us_ = range.announced ? read_at_us - lateness_us : NextBound(bound, read_at_us);
  // An announced read or one by id is as good as a sweep: every commit since the
  // last one was read, whatever its timestamp.
  if (range.sweep || range.announced || range.by_id || bound.standby) last_sweep_us_ = read_at_us;
  // A read by timestamp between sweeps may have left a commit stamped before its
  // frontier to the next sweep.
  id_covered_ = range.sweep || range.announced || range.by_id || options_.sweep_interval.count() == 0;
  NoteIdSample(bound);
  NoteGaps(range, bound, ids_read);
  // After a full-window read, a complete list from the next cycle on covers all.
  announced_since_sweep_ = range.sweep || bound.standby || (announced_since_sweep_ && announced);
  standby_ = bound.standby;
  // Ids the next reads can reach: the fast path's (at least last_read - lateness -
  // slack) and, when sweeps happen, the next sweep's (last_sweep - lateness - slack).
  // Without sweeps last_sweep_us_ stays at the start, which must not pin the ledger.
  const bool sweeps = options_.sweep_interval.count() > 0;
  const std::int64_t oldest_read_us = sweeps ? std::min(last_read_us_, last_sweep_us_) : last_read_us_;
  ledger_.EvictBefore(oldest_read_us - lateness_us - 2 * kClockSlackUs, KeepFromId());
}

}  // namespace aee
