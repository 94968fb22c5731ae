#pragma once

// The fixed "now" the collector tests run at, and the context they build
// collectors with: rows are placed relative to kNoon with At().

#include <chrono>
#include <string>

#include "collectors/collector.h"
#include "core/clock.h"

namespace aee::testing {

/// Tuesday 2026-03-10 12:00:00 UTC.
inline const Clock::time_point kNoon = Clock::time_point(std::chrono::seconds(1773144000));
/// kNoon's UTC day and the next one, as SQL timestamptz literals.
inline const std::string kDay = "'2026-03-10 00:00:00+00'";
inline const std::string kNextDay = "'2026-03-11 00:00:00+00'";

/// SQL timestamptz: kNoon plus offset, an interval text ("-90 seconds", "5 minutes").
std::string At(const std::string& offset);

/// A collector context on clock: schema quoted, a 30 s statement timeout, no logger.
CollectorContext Ctx(const Clock& clock, const std::string& schema = "public");

}  // namespace aee::testing
