#include "collectors/run_ledger.h"

#include <string>

namespace aee {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

RunLedger::Key RunLedger::ToKey(std::string_view run_id) {
  Key key;
  int digits = 0;
  for (char c : run_id) {
    int v = HexValue(c);
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

RunLedger::Key RunLedger::ToKey(std::int64_t id) {
  // hi = all ones is the nil-complement uuid's prefix, which no real uuid (version
  // nibble 1-8) has, so integer and uuid keys never meet.
  return Key{~std::uint64_t{0}, static_cast<std::uint64_t>(id)};
}

bool RunLedger::InsertKey(const Key& key, std::int64_t finished_us) {
  if (!ids_.insert(key).second) return false;
  by_finish_.emplace(finished_us, key);
  return true;
}

bool RunLedger::Insert(std::string_view run_id, std::int64_t finished_us) {
  return InsertKey(ToKey(run_id), finished_us);
}

bool RunLedger::Insert(std::int64_t id, std::int64_t finished_us) { return InsertKey(ToKey(id), finished_us); }

bool RunLedger::Contains(std::string_view run_id) const { return ids_.contains(ToKey(run_id)); }

bool RunLedger::Contains(std::int64_t id) const { return ids_.contains(ToKey(id)); }

void RunLedger::EvictBefore(std::int64_t cutoff_us) {
  while (!by_finish_.empty() && by_finish_.top().first < cutoff_us) {
    ids_.erase(by_finish_.top().second);
    by_finish_.pop();
  }
}

void RunLedger::Clear() {
  ids_.clear();
  by_finish_ = {};
}

}  // namespace aee
