#pragma once

#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

namespace aee {

/// The run ids already counted whose finished_at is still inside the window that
/// later scans may re-read. It is what makes overlapping scans count a run once.
///
/// Ids are stored as 128-bit values (a uuid's bytes, or a bigint id in a range no
/// uuid key uses) with their finish time, 24 bytes, in one open-addressing table
/// kept between 3/8 and 3/4 full: 32 to 64 bytes per id, no per-id allocation.
/// The eviction cutoff moves once per sweep (DailyWindow), so eviction rebuilds
/// the table instead of keeping the ids ordered by finish time.
class RunLedger {
 public:
  /// Records run_id; returns false if it was already recorded.
  bool Insert(std::string_view run_id, std::int64_t finished_us);
  bool Contains(std::string_view run_id) const;
  /// Same for integer ids (bigserial keys such as model_calls.id).
  bool Insert(std::int64_t id, std::int64_t finished_us);
  bool Contains(std::int64_t id) const;
  /// Forgets runs that finished before cutoff_us (no scan reaches them any more).
  /// Costs one pass over the table when some entry is older than the cutoff,
  /// nothing otherwise.
  void EvictBefore(std::int64_t cutoff_us);
  void Clear();
  size_t size() const { return size_; }
  /// Slots allocated (each 24 bytes).
  size_t capacity() const { return slots_.size(); }

 private:
  struct Key {
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    bool operator==(const Key&) const = default;
  };
  static constexpr std::int64_t kFree = std::numeric_limits<std::int64_t>::min();
  struct Slot {
    Key key;
    std::int64_t finished_us = kFree;  // kFree marks an unused slot
  };
  static Key ToKey(std::string_view run_id);
  static Key ToKey(std::int64_t id);
  /// The slot holding key, or the free slot where it would go.
  size_t Find(const Key& key) const;
  bool InsertKey(const Key& key, std::int64_t finished_us);
  /// Re-creates the table with `slots` slots (a power of two) holding the entries
  /// that finished at or after keep_from_us.
  void Rebuild(size_t slots, std::int64_t keep_from_us);

  std::vector<Slot> slots_;  // size 0 or a power of two
  size_t size_ = 0;
  std::int64_t oldest_us_ = std::numeric_limits<std::int64_t>::max();  // no entry finished earlier
};

}  // namespace aee
