#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collectors/run_ledger.h"

namespace pqxx {
class result;
class transaction_base;
}

namespace aee {

class Logger;

/// The bookkeeping shared by the daily-anchored, exactly-once counters (runs,
/// model calls): which UTC day is counted, which time range the next cycle must
/// read, and the ledger of ids already counted inside the lateness window.
///
/// A cycle reads the rows whose timestamp is at or after a frontier: the start of
/// the oldest other transaction that was open when the previous cycle read (a row
/// stamped by the database inside a then-open transaction cannot be older), clamped
/// to the lateness window and moved back by a clock slack. A periodic sweep
/// re-reads the whole lateness window for application-stamped timestamps. The
/// ledger makes the overlap between reads count each id once. The window changes
/// state only in Start() and Finish(), after the cycle's reads succeeded, so a
/// failed cycle loses and doubles nothing.
///
/// On a hot standby pg_stat_activity shows only the standby's own sessions, not the
/// primary's open transactions, and xids say nothing of when a transaction began
/// (a transaction gets one at its first write, and now() is its start). So there
/// the frontier is the explicit fallback: every cycle re-reads the whole lateness
/// window, measured not on the exporter's clock but back from the newest commit the
/// standby had replayed (pg_last_xact_replay_timestamp(); the last restartpoint's
/// checkpoint time before anything was replayed): a row the standby had not shown
/// yet committed after that, so it is counted if it committed at most the lateness
/// after its timestamp, however far the standby lags.
///
/// A table whose ids come from a sequence (model_calls.id, a bigserial) can be read
/// by id instead (UseIdSequence()): a row invisible to a read was written by a
/// transaction that began at or after the frontier, so its id was handed out after
/// then. Each cycle samples the sequence (the next value it hands out, then the
/// database clock); the frontier's id is that of the newest sample taken at or
/// before the frontier, and every row above it is read, whatever its timestamp: a call stamped
/// by the application a minute before its row commits is counted at once, without
/// sweeps. The frontier is clamped to the lateness before the read (a forgotten open
/// session does not make every cycle read hours of rows). Reads switch to ids once a
/// sample is old enough and the last read left nothing for a sweep to find; on a
/// standby, with hidden sessions, or without a usable sequence they read timestamps.
class DailyWindow {
 public:
  struct Options {
    /// How much later than its timestamp a row may commit and still be counted.
    std::chrono::milliseconds lateness{std::chrono::minutes(5)};
    /// How often the whole lateness window is re-read; 0 = never.
    std::chrono::milliseconds sweep_interval{std::chrono::minutes(5)};
  };
  /// A sample of the id sequence: every id handed out after db_us (database clock)
  /// is at or above next_id.
  struct IdSample {
    std::int64_t db_us = 0;
    std::int64_t next_id = 0;
  };
  /// What pg_stat_activity said about other open transactions, and on a standby
  /// how far it had replayed.
  struct Bound {
    std::int64_t oldest_xact_us = 0;  // 0 when no other transaction was open
    bool hidden_sessions = false;     // other roles' sessions were hidden
    bool standby = false;             // pg_is_in_recovery(): the bound is replay_us
    std::int64_t replay_us = 0;       // standby: every commit stamped before this is visible; 0 unknown
    double replay_lag_s = -1;         // standby: seconds behind (0 when it replayed all it received); <0 unknown
    std::int64_t db_now_us = 0;       // the database's statement_timestamp() of the read
    std::optional<IdSample> id_sample;  // taken just before, when reading by id (UseIdSequence)
  };
  /// Timestamps from lo_us to hi_us, both included.
  struct Span {
    std::int64_t lo_us = 0;
    std::int64_t hi_us = 0;
  };
  /// The timestamp range [from_us, to_us) the next incremental read covers (none
  /// when from_us >= to_us), and whether announcements chose it.
  struct Range {
    std::int64_t from_us = 0;
    std::int64_t to_us = 0;
    bool sweep = false;
    bool announced = false;
    /// Read by id: the rows whose id is at or above hi_id or one of gaps (ids below
    /// hi_id the last read by id did not see), all at or above from_id, whatever
    /// their timestamp or workspace: the caller counts only its own of [from_us,
    /// to_us) (the day), and passes every id read to Finish().
    bool by_id = false;
    std::int64_t from_id = 0;
    std::int64_t hi_id = 0;
    std::vector<std::int64_t> gaps;
    /// Announced with every timestamp known: only these parts of [from_us, to_us)
    /// hold rows to count (the announced times, those closer than kSpanGapUs merged).
    std::vector<Span> spans;
  };
  /// Announced times closer than this are read as one span: an index descent costs
  /// about what 30 ms of rows do at 120 finishes a second.
  static constexpr std::int64_t kSpanGapUs = 100'000;

  static constexpr std::int64_t kDayUs = 86'400'000'000;
  /// Slack for clock differences between the exporter, the database and the
  /// application servers that stamp the timestamps.
  static constexpr std::int64_t kClockSlackUs = 2'000'000;

  DailyWindow(std::string collector, Options options, Logger* logger);

  /// Start of the UTC day holding us.
  static std::int64_t DayStart(std::int64_t us);

  /// True when the next cycle must (re)compute the day from scratch: first cycle,
  /// or the UTC day changed.
  bool NeedsStart(std::int64_t now_us) const { return !started_ || DayStart(now_us) != day_start_us_; }
  std::int64_t day_start_us() const { return day_start_us_; }

  /// Finds the sequence that hands out the ids of column in table (quoted_table as
  /// written in SQL) and reads by id from then on if it can: a sequence of its own
  /// (serial or identity), stepping by 1 (an ORM fetching blocks of ids ahead uses
  /// larger steps), not cycling, one value cached per session (a session holding a
  /// block of values could hand out ids below a sample), and readable by this role.
  /// Otherwise reads timestamps, and logs why once. Call in the start-up's first
  /// transaction, before ReadBound().
  void UseIdSequence(pqxx::transaction_base& tx, std::string_view quoted_table, std::string_view column);
  /// Stops reading by id (the exporter's flag).
  void UseTimestampsOnly() { id_sequence_.clear(); }

  /// Reads the frontier; call inside the cycle's transaction before reading rows.
  /// Logs once when the role cannot see other roles' transactions.
  Bound ReadBound(pqxx::transaction_base& tx);

  /// How the first column of a read holds the id.
  enum class IdColumn { kText, kBigint };

  /// The time the database's view read under bound is current as of: now_us on a
  /// primary; on a standby its replay point (never older than the last read's, so
  /// a standby that fell further behind, or another one, cannot move the frontier
  /// back past ids the ledger has let go). Pass it to ReadLedger().
  std::int64_t ReadAt(const Bound& bound, std::int64_t now_us) const;
  /// Oldest timestamp whose ids a (re)start must put in the ledger.
  std::int64_t LedgerFrom(std::int64_t now_us) const;
  /// The ledger a (re)start at now_us commits with Start(): the ids sql (parameters
  /// from, to; the id in the first column, its timestamp in microseconds in the
  /// second) reads from LedgerFrom(now_us) to `to`, through a cursor (ForEachBatch).
  /// now_us is ReadAt(bound, exporter time).
  RunLedger ReadLedger(pqxx::transaction_base& tx, std::string_view cursor, std::string_view sql,
                       std::int64_t now_us, const std::string& to, IdColumn id, size_t batch_rows) const;
  /// Commits a (re)start at now_us: the day of now_us, with ledger holding the ids
  /// the start-up aggregate counted since LedgerFrom(now_us).
  void Start(std::int64_t now_us, const Bound& bound, RunLedger ledger);

  /// What a change feed announced since the previous cycle took its list (taken
  /// before this cycle's snapshot): the oldest timestamp of a row committed since,
  /// nullopt when none.
  struct Announced {
    std::optional<std::int64_t> oldest_us;
    /// Every timestamp announced, sorted; nullopt when only the oldest is known.
    std::optional<std::vector<std::int64_t>> times;
  };
  /// The range the next incremental cycle must read. announced: a list without a
  /// gap (nullopt: no feed, or something may have been missed). When that has held
  /// since the last sweep, every row committed since the previous read is at or
  /// after the oldest announced timestamp: the read starts there (within the
  /// sweep's window), reads nothing when nothing was announced, and needs neither
  /// ReadBound() nor sweeps. With every announced time known it reads only around
  /// those times (Range::spans).
  Range NextRange(std::int64_t now_us, const std::optional<Announced>& announced = std::nullopt) const;
  /// The statements that read a range's rows (the id in the first column).
  struct RowQueries {
    /// Parameters from, to.
    std::string_view range;
    /// Parameters from, to, and the spans' lower and upper bounds as timestamptz[].
    std::string_view spans;
    /// spans with LIMIT $5, prepared once per session; empty: none.
    std::string spans_prepared;
    /// Parameters from, to, from_id, hi_id and the gaps as bigint[] (Range::by_id);
    /// its column by_id_mine is true for the rows to count (only they count as read).
    std::string_view by_id;
    int by_id_mine = 0;
  };
  /// Reads range through a cursor (ForEachBatch) and returns only the batches
  /// holding an id not counted yet: a sweep re-reads minutes of rows that are
  /// nearly all counted already. The caller records them with Record() once the
  /// transaction has committed. A range with spans is read with sql.spans: by the
  /// statement sql.spans_prepared when there is one and the spans hold fewer than
  /// batch_rows rows, else through the cursor. A range by id is read with sql.by_id.
  /// A range by id also puts every id it read in *ids_read, sorted.
  std::vector<pqxx::result> ReadUncounted(pqxx::transaction_base& tx, std::string_view cursor,
                                          const RowQueries& sql, const Range& range, IdColumn id, size_t batch_rows,
                                          std::uint64_t* rows_read, std::vector<std::int64_t>* ids_read) const;
  /// The id a (re)start's ledger must hold every counted id from (with the ids
  /// LedgerFrom() gives): the sample of the bound read before its snapshot; nullopt
  /// when not reading by id.
  std::optional<std::int64_t> LedgerFromId(const Bound& bound) const;
  /// Records an id read by the current cycle; true when it was not counted yet.
  bool Record(std::string_view id, std::int64_t ts_us) { return ledger_.Insert(id, ts_us); }
  bool Record(std::int64_t id, std::int64_t ts_us) { return ledger_.Insert(id, ts_us); }
  /// Commits an incremental cycle that read range at now_us; announced: its list
  /// was complete (NextRange() had one). An announced range has no bound (the
  /// frontier was not read). A range by id passes the ids it read (sorted): the ids
  /// below this bound's sample it did not see are the next read's gaps.
  void Finish(const Range& range, std::int64_t now_us, const Bound& bound, bool announced = false,
              const std::vector<std::int64_t>& ids_read = {});

  size_t ledger_size() const { return ledger_.size(); }
  /// Whether the sequence is being sampled (UseIdSequence found one).
  bool reads_by_id() const { return !id_sequence_.empty(); }

  /// Samples kept at most; with more, the oldest go (reads fall back to timestamps
  /// while the frontier is older than every sample).
  static constexpr size_t kMaxIdSamples = 4096;
  /// Gaps kept at most, and ids a read may span when finding them; beyond either
  /// the next read by id reads everything from its frontier's id.
  static constexpr size_t kMaxGaps = 100'000;
  static constexpr std::int64_t kMaxGapSpan = 1'000'000;
  /// Gaps at least this dense (one in so many ids, counted down from the last
  /// sample) are read as a range rather than one by one.
  static constexpr std::int64_t kGapDensity = 10;

 private:
  std::int64_t NextBound(const Bound& bound, std::int64_t read_at_us) const;
  /// Whether bound's frontier can be mapped to an id by its sample.
  static bool MapsIds(const Bound& bound);
  /// Adds bound's sample and maps bound's frontier to an id (id_from_).
  void NoteIdSample(const Bound& bound);
  /// The lowest id a later read by id can start from (what the ledger must keep).
  std::int64_t KeepFromId() const;
  /// After NoteIdSample(): the ids a read by id did not see (gaps_).
  void NoteGaps(const Range& range, const Bound& bound, const std::vector<std::int64_t>& ids_read);

  std::string collector_;
  Options options_;
  Logger* logger_;
  bool started_ = false;
  bool warned_hidden_ = false;
  bool standby_ = false;            // the last read was on a hot standby
  std::int64_t day_start_us_ = 0;
  RunLedger ledger_;
  std::int64_t last_read_us_ = 0;   // ReadAt() of the last read
  std::int64_t bound_us_ = 0;       // nothing invisible then was stamped before this
  std::int64_t last_sweep_us_ = 0;  // exporter time of the last full-window read
  // Every commit since the last full-window read (or start) was announced.
  bool announced_since_sweep_ = false;
  // Reading by id: the sequence (quoted), empty when reading timestamps.
  std::string id_sequence_;
  std::string id_refusal_;               // why not, last logged
  std::deque<IdSample> id_samples_;      // oldest first; the first one is the one id_from_ came from
  std::optional<std::int64_t> id_from_;  // the next read by id starts here; nullopt: not mappable
  // The last read left nothing behind for a sweep: the next one may read by id.
  bool id_covered_ = false;
  // After a read by id (or a start) with its sample: every row invisible then is
  // at or above gaps_hi_ or in gaps_ (ids below it not seen, ascending).
  bool gaps_known_ = false;
  std::int64_t gaps_hi_ = 0;
  std::vector<std::int64_t> gaps_;
};

}  // namespace aee
