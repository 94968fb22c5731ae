#pragma once

#include <cstdint>
#include <mutex>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aee {

/// A finite time as schema/notify.sql's entries write it (Unix microseconds);
/// nullopt for "n" (NULL), "-" / "+" (-infinity / infinity) and anything else.
std::optional<std::int64_t> NotifyMicros(std::string_view s);

/// What schema/notify.sql's triggers announce on the LISTEN connection, handed to
/// the collectors that can read less because of it. Thread-safe.
///
/// Row payloads ("agent_runs:<workspace>/<id>=<state>,...,#<n>" and the same for
/// execution_queue) carry each changed row's state, which the realtime collector
/// applies without reading the row, and finished runs' finished_at, from which the
/// runs collector reads; older entries without a state
/// ("<workspace>/<id>", or a bare "<id>") name rows it re-reads. A row's latest
/// entry wins, except that a row to be read stays to be read (the read returns its
/// newest state). A shard's feed keeps only the entries of its own workspaces
/// (ShardOfWorkspace; an empty workspace is shard 0's): the others' rows are not its
/// to read, and their notifications need not wake its collectors. The changes are
/// complete only while the listener has been connected since the last Take() and
/// every payload was a list of entries: a (re)connect, a drop, a bare table name
/// (agents, workspaces, TRUNCATE), a payload it cannot parse or too many pending rows
/// mark a gap, and the collector then reads everything again.
class ChangeFeed {
 public:
  explicit ChangeFeed(std::string channel, int shard_count = 1, int shard_index = 0)
      : channel_(std::move(channel)), shard_count_(shard_count), shard_index_(shard_index) {}
  /// The LISTEN channel the triggers must name (their first argument).
  const std::string& channel() const { return channel_; }
  /// LISTEN is in effect: changes committed before it were not announced.
  void Connected();
  /// The listener lost its connection: notifications are lost until Connected().
  void Disconnected();
  /// One notification's payload. False when it named only other shards' rows
  /// (nothing here changed); true otherwise, including every payload that is not a
  /// list of entries.
  bool Notify(std::string_view payload);

  struct Changes {
    /// False when something may have been missed since the last Take().
    bool complete = false;
    std::vector<std::string> runs;   // run_id of rows to read
    std::vector<std::string> queue;  // queue_id of rows to read
    /// Rows announced with their state (the text after "="), in id order.
    struct Stated {
      std::string id, workspace, state;
    };
    std::vector<Stated> run_states, queue_states;
  };
  /// The announced rows since the last call; the next call starts afresh.
  Changes Take();

  /// The runs collector's view of what was announced since its last call: the
  /// oldest finite timestamp of a row it must count (nullopt: none).
  struct Oldest {
    bool complete = false;
    std::optional<std::int64_t> us;
    /// Every finite finished_at announced, sorted, each once; nullopt when more
    /// than kMaxFinishedTimes were (then only `us` is known).
    std::optional<std::vector<std::int64_t>> times;
  };
  /// The runs collector's: the oldest finished_at of the agent_runs rows announced
  /// as finished ("-<finished_at>"), and all of them. Complete only while the
  /// listener has been connected since the last call, the triggers are verified,
  /// nothing was lost (the same gaps as Take()'s) and every entry said whether it
  /// finished (not so the entries of older versions of schema/notify.sql).
  Oldest TakeFinished();

  /// Set by the realtime collector after it checked that every trigger is in place
  /// (and the database is no standby).
  void SetTriggersVerified(bool ok);
  /// Changes whenever the agents table may have changed unannounced or announced:
  /// any agents or bare payload, a connect or a drop. Equal values taken while
  /// Trusted() mean the agents table did not change in between.
  std::uint64_t agents_generation();
  /// Connected and the triggers verified.
  bool Trusted();

  /// Pending rows beyond this mark a gap (a full read is cheaper than the list).
  static constexpr size_t kMaxPending = 100000;
  /// Finish times kept for TakeFinished() beyond this: only the oldest.
  static constexpr size_t kMaxFinishedTimes = 20000;

 private:
  const std::string channel_;
  const int shard_count_;
  const int shard_index_;
  std::mutex mu_;
  bool connected_ = false;
  bool triggers_verified_ = false;
  bool gap_ = true;           // Take()'s list is incomplete
  bool finished_gap_ = true;  // TakeFinished()'s list is incomplete
  std::uint64_t agents_generation_ = 0;
  /// Everything pending is dropped and both lists are incomplete until taken.
  void MarkGap();

  struct Announced {
    std::string workspace, state;
  };
  // id -> its announced state; nullopt: to be read.
  std::map<std::string, std::optional<Announced>> runs_, queue_;
  std::optional<std::int64_t> finished_us_;  // the oldest announced
  std::vector<std::int64_t> finished_times_;  // every one announced, unsorted
  bool finished_times_dropped_ = false;       // more than kMaxFinishedTimes
};

}  // namespace aee
