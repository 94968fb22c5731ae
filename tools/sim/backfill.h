#pragma once

/// Bulk generation of finished run history.

#include <cstdint>
#include <string>

#include "tools/sim/platform.h"

namespace aee::sim {

struct BackfillOptions {
  std::string db_url;
  std::string db_schema;
  int days = 0;
  Micros end = 0;
  int jobs = 2;
};

struct BackfillStats {
  uint64_t runs = 0;
  uint64_t model_calls = 0;
  Micros from = 0;  // history actually written: [from, end)
  double seconds = 0;
};

/// Writes the finished runs of [end - days, end) (after any run already present) with
/// COPY over `jobs` connections. Same seed and options: same rows.
BackfillStats RunBackfill(const Platform& platform, const BackfillOptions& options);

}  // namespace aee::sim
