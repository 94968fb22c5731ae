#pragma once

#include <cstdint>
#include <functional>
#include <queue>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace aee {

/// The run ids already counted whose finished_at is still inside the window that
/// later scans may re-read. It is what makes overlapping scans count a run once.
///
/// Ids are stored as 128-bit values (a uuid's bytes, or a bigint id in a range no
/// uuid key uses). With the hash-set node, its bucket and the eviction heap's entry
/// an id costs about 90 bytes: 40 k runs and 70 k model calls in 5-minute windows
/// (120 runs/s) are about 10 MB (docs/benchmarks.md, "Memory under a steady load").
class RunLedger {
 public:
  /// Records run_id; returns false if it was already recorded.
  bool Insert(std::string_view run_id, std::int64_t finished_us);
  bool Contains(std::string_view run_id) const;
  /// Same for integer ids (bigserial keys such as model_calls.id).
  bool Insert(std::int64_t id, std::int64_t finished_us);
  bool Contains(std::int64_t id) const;
  /// Forgets runs that finished before cutoff_us (no scan reaches them any more).
  void EvictBefore(std::int64_t cutoff_us);
  void Clear();
  size_t size() const { return ids_.size(); }

 private:
  struct Key {
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return std::hash<std::uint64_t>()(k.hi * 31 + k.lo); }
  };
  using Entry = std::pair<std::int64_t, Key>;
  struct Later {
    bool operator()(const Entry& a, const Entry& b) const { return a.first > b.first; }
  };
  static Key ToKey(std::string_view run_id);
  static Key ToKey(std::int64_t id);
  bool InsertKey(const Key& key, std::int64_t finished_us);

  std::unordered_set<Key, KeyHash> ids_;
  std::priority_queue<Entry, std::vector<Entry>, Later> by_finish_;  // oldest on top
};

}  // namespace aee
