// agent_platform_sim: writes an AI-agent platform's tables like a real platform would,
// for the exporter's demo, tests and load tests. See docs/simulator.md.

#include <pthread.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "tools/sim/backfill.h"
#include "tools/sim/config.h"
#include "tools/sim/db.h"
#include "tools/sim/live.h"

namespace {

int Main(int argc, char** argv) {
  using namespace aee::sim;
  std::vector<std::string> args(argv + 1, argv + argc);
  const char* env_url = std::getenv("AGENT_EXPORTER_DB_URL");
  ParseResult parsed = ParseFlags(args, env_url ? env_url : "");
  if (parsed.help) {
    std::cout << Usage();
    return 0;
  }
  if (!parsed.config) {
    std::cerr << "agent_platform_sim: " << parsed.error << "\n";
    return 2;
  }
  const Config& c = *parsed.config;

  std::string ddl = BuiltinSchemaSql();
  if (!c.schema_file.empty()) {
    std::ifstream in(c.schema_file);
    if (!in) {
      std::cerr << "agent_platform_sim: cannot read --schema-file " << c.schema_file << "\n";
      return 2;
    }
    std::ostringstream s;
    s << in.rdbuf();
    ddl = s.str();
  }

  try {
    const Platform platform(c.platform);
    if (c.init_schema) {
      auto conn = Connect(c.db_url, c.db_schema);
      InitSchema(*conn, c.db_schema, ddl);
      std::cerr << "[sim] schema " << c.db_schema << " ready\n";
    }
    if (c.backfill_days > 0) {
      BackfillOptions b;
      b.db_url = c.db_url;
      b.db_schema = c.db_schema;
      b.days = c.backfill_days;
      b.end = c.backfill_end.value_or(WallNow());
      b.jobs = c.backfill_jobs;
      const BackfillStats s = RunBackfill(platform, b);
      if (s.from >= b.end) {
        std::cerr << "[sim] backfill: history up to " << FormatTimestamp(b.end)
                  << " already present, nothing to add\n";
      } else {
        std::cerr << "[sim] backfill: " << s.runs << " runs, " << s.model_calls
                  << " model calls from " << FormatTimestamp(s.from) << " to "
                  << FormatTimestamp(b.end) << " in " << s.seconds << " s ("
                  << static_cast<uint64_t>(static_cast<double>(s.runs) / std::max(s.seconds, 1e-9))
                  << " runs/s)\n";
      }
    }
    if (c.live) {
      // Blocked before any writer thread starts, so only the live loop sees them.
      sigset_t stop;
      sigemptyset(&stop);
      sigaddset(&stop, SIGINT);
      sigaddset(&stop, SIGTERM);
      pthread_sigmask(SIG_BLOCK, &stop, nullptr);
      LiveOptions l;
      static_cast<LiveLoad&>(l) = c;
      l.db_url = c.db_url;
      l.db_schema = c.db_schema;
      SystemClock clock;
      const LiveSummary s = RunLive(platform, l, clock, stop, std::cerr);
      std::cerr << "[sim] " << FormatSummary(s) << std::endl;
    }
  } catch (const std::exception& e) {
    std::cerr << "agent_platform_sim: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
