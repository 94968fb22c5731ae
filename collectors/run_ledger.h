#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace aee {

/// The run ids already counted whose finished_at is still inside the window that
/// later scans may re-read. It is what makes overlapping scans count a run once.
///
/// Text ids (uuids as their 128 bits, other text as two hashes) are stored with
/// their finish time, 24 bytes, in one open-addressing table kept between 3/8 and
/// 3/4 full: 32 to 64 bytes per id, no per-id allocation. The eviction cutoff
/// moves once per sweep (DailyWindow), so eviction rebuilds the table instead of
/// keeping the ids ordered by finish time.
///
/// Integer ids (bigserial keys such as model_calls.id) come nearly consecutive, so
/// they are bits in blocks of 512 consecutive ids with the newest finish time of
/// the block: about 0.2 bytes per id. A block is forgotten once every id in it
/// finished before the cutoff, so an integer id may be remembered a little longer
/// than asked, never shorter: only ids a later scan cannot re-read are forgotten.
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
  /// nothing otherwise. An integer id at or above keep_from_id is kept whatever
  /// its time: reads by id (DailyWindow's id frontier) can still reach it.
  void EvictBefore(std::int64_t cutoff_us,
                   std::int64_t keep_from_id = std::numeric_limits<std::int64_t>::max());
  void Clear();
  size_t size() const { return size_ + block_ids_; }
  /// Slots allocated for text ids (each 24 bytes).
  size_t capacity() const { return slots_.size(); }
  /// Blocks allocated for integer ids (each about 100 bytes).
  size_t blocks() const { return blocks_.size(); }

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
  static constexpr int kBlockShift = 9;  // 512 ids a block
  struct IdBlock {
    std::array<std::uint64_t, (1 << kBlockShift) / 64> bits{};
    std::int64_t newest_us = kFree;
    std::uint32_t count = 0;
  };
  static Key ToKey(std::string_view run_id);
  /// Where an integer id's bit is in its block: the word and the mask within it.
  static std::pair<size_t, std::uint64_t> BitOf(std::int64_t id);
  /// The slot holding key, or the free slot where it would go.
  size_t Find(const Key& key) const;
  bool InsertKey(const Key& key, std::int64_t finished_us);
  /// Re-creates the table with `slots` slots (a power of two) holding the entries
  /// that finished at or after keep_from_us.
  void Rebuild(size_t slots, std::int64_t keep_from_us);

  std::vector<Slot> slots_;  // size 0 or a power of two
  size_t size_ = 0;
  std::int64_t oldest_us_ = std::numeric_limits<std::int64_t>::max();  // no entry finished earlier
  std::unordered_map<std::int64_t, IdBlock> blocks_;  // id >> kBlockShift -> its block
  size_t block_ids_ = 0;
};

}  // namespace aee
