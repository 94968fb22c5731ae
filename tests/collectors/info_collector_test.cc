// Integration tests of the info collector against a real PostgreSQL.
#include "collectors/info_collector.h"

#include <gtest/gtest.h>

#include "core/db.h"
#include "tests/support/fixed_time.h"
#include "tests/support/run_data.h"
#include "tests/support/snapshot.h"
#include "tests/support/test_db.h"

namespace aee {
namespace {

TEST(InfoCollectorTest, ExposesNamesAndFollowsRenames) {
  testing::TestDb db;
  testing::InsertWorkspacesAndAgents(db);
  SystemClock clock;
  CollectorContext ctx = testing::Ctx(clock);
  InfoCollector c(ctx);
  DbSession s(db.url(), "test");
  auto snap = c.Collect(s);
  EXPECT_EQ(testing::Value(snap, "agent_workspace_info", {{"workspace_id", testing::kWs1}, {"workspace_name", "Team A"}}), 1);
  EXPECT_EQ(testing::Value(snap, "agent_info",
                           {{"workspace_id", testing::kWs2}, {"agent_id", testing::kAgent3}, {"agent_name", "researcher"}}),
            1);
  EXPECT_EQ(testing::SeriesCount(snap, "agent_info"), 3u);
  db.Exec(std::string("UPDATE agents SET name = 'we\"ird \\ name' WHERE id = '") + testing::kAgent3 + "'");
  snap = c.Collect(s);
  EXPECT_EQ(testing::SeriesCount(snap, "agent_info"), 3u);
  EXPECT_TRUE(testing::Find(snap, "agent_info",
                            {{"workspace_id", testing::kWs2}, {"agent_id", testing::kAgent3}, {"agent_name", "we\"ird \\ name"}}));
}

}  // namespace
}  // namespace aee
