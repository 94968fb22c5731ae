#include "collectors/run_ledger.h"

#include <algorithm>
#include <bit>
#include <string>

#include "core/text.h"

namespace aee {
namespace {

// MurmurHash3's 64-bit finaliser: spreads keys whose bits are not random (time-based
// uuids, whose high half changes slowly) over the table.
std::uint64_t Mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb3fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Slots for n entries right after a rebuild: at most half full, so the table
// takes as many new entries again before it grows.
size_t SlotsFor(size_t n) { return n == 0 ? 0 : std::max<size_t>(16, std::bit_ceil(n * 2)); }

}  // namespace

RunLedger::Key RunLedger::ToKey(std::string_view run_id) {
  Key key;
  int digits = 0;
  for (char c : run_id) {
    int v = HexDigitValue(c);
    if (v < 0) {
      if (c == '-') continue;
      digits = -1;
      break;
    }
    if (digits >= 32) {
      digits = -1;
      break;
    }
    std::uint64_t& half = digits < 16 ? key.hi : key.lo;
    half = (half << 4) | static_cast<std::uint64_t>(v);
    ++digits;
  }
  if (digits == 32) return key;
  // Not a uuid: fall back to two independent hashes of the text. Collisions are
  // astronomically unlikely and would only make one odd id look counted.
  std::hash<std::string_view> h;
  return Key{h(run_id), h(std::string(run_id) + "#")};
}

size_t RunLedger::Find(const Key& key) const {
  const size_t mask = slots_.size() - 1;
  size_t i = Mix(key.hi ^ Mix(key.lo)) & mask;
  // Linear probing; the table is never full, so a free slot ends every probe.
  while (slots_[i].finished_us != kFree && !(slots_[i].key == key)) i = (i + 1) & mask;
  return i;
}

bool RunLedger::InsertKey(const Key& key, std::int64_t finished_us) {
  // kFree marks unused slots; no real timestamp is that old.
  finished_us = std::max(finished_us, kFree + 1);
  if ((size_ + 1) * 4 > slots_.size() * 3) Rebuild(std::max<size_t>(16, slots_.size() * 2), kFree + 1);
  Slot& slot = slots_[Find(key)];
  if (slot.finished_us != kFree) return false;
  slot = Slot{key, finished_us};
  ++size_;
  oldest_us_ = std::min(oldest_us_, finished_us);
  return true;
}

bool RunLedger::Insert(std::string_view run_id, std::int64_t finished_us) {
  return InsertKey(ToKey(run_id), finished_us);
}

std::pair<size_t, std::uint64_t> RunLedger::BitOf(std::int64_t id) {
  const auto bit = static_cast<unsigned>(id & ((1 << kBlockShift) - 1));
  return {bit / 64, std::uint64_t{1} << (bit % 64)};
}

bool RunLedger::Insert(std::int64_t id, std::int64_t finished_us) {
  IdBlock& block = blocks_[id >> kBlockShift];  // arithmetic shift: negative ids have blocks too
  const auto [index, mask] = BitOf(id);
  std::uint64_t& word = block.bits[index];
  if ((word & mask) != 0) return false;
  word |= mask;
  ++block.count;
  ++block_ids_;
  block.newest_us = std::max(block.newest_us, finished_us);
  return true;
}

bool RunLedger::Contains(std::string_view run_id) const {
  return size_ != 0 && slots_[Find(ToKey(run_id))].finished_us != kFree;
}

bool RunLedger::Contains(std::int64_t id) const {
  auto it = blocks_.find(id >> kBlockShift);
  if (it == blocks_.end()) return false;
  const auto [index, mask] = BitOf(id);
  return (it->second.bits[index] & mask) != 0;
}

void RunLedger::EvictBefore(std::int64_t cutoff_us, std::int64_t keep_from_id) {
  // A block's ids are [key << kBlockShift, (key + 1) << kBlockShift).
  const std::int64_t keep_from_block = keep_from_id >> kBlockShift;
  std::erase_if(blocks_, [&](const auto& entry) {
    if (entry.second.newest_us >= cutoff_us || entry.first >= keep_from_block) return false;
    block_ids_ -= entry.second.count;
    return true;
  });
  if (size_ == 0 || cutoff_us <= oldest_us_) return;
  size_t kept = 0;
  for (const Slot& s : slots_) kept += s.finished_us != kFree && s.finished_us >= cutoff_us;
  if (kept == size_) {
    oldest_us_ = cutoff_us;
    return;
  }
  Rebuild(SlotsFor(kept), cutoff_us);
}

void RunLedger::Rebuild(size_t slots, std::int64_t keep_from_us) {
  std::vector<Slot> old(slots, Slot{});
  old.swap(slots_);
  size_ = 0;
  oldest_us_ = std::numeric_limits<std::int64_t>::max();
  for (const Slot& s : old) {
    if (s.finished_us == kFree || s.finished_us < keep_from_us) continue;
    slots_[Find(s.key)] = s;
    ++size_;
    oldest_us_ = std::min(oldest_us_, s.finished_us);
  }
}

void RunLedger::Clear() {
  blocks_.clear();
  block_ids_ = 0;
  std::vector<Slot>().swap(slots_);
  size_ = 0;
  oldest_us_ = std::numeric_limits<std::int64_t>::max();
}

}  // namespace aee
