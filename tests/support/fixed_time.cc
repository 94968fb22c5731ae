#include "tests/support/fixed_time.h"

#include "core/db.h"

namespace aee::testing {

std::string At(const std::string& offset) {
  return "'2026-03-10 12:00:00+00'::timestamptz + interval '" + offset + "'";
}

CollectorContext Ctx(const Clock& clock, const std::string& schema) {
  CollectorContext ctx;
  ctx.quoted_schema = QuoteIdentifier(schema);
  ctx.clock = &clock;
  ctx.timeout = std::chrono::seconds(30);
  return ctx;
}

}  // namespace aee::testing
