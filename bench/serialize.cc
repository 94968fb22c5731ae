// serialize: the cost of rendering a large exposition in the text format, our writer
// (aee::SerializeText, aee::RenderFamilies) against prometheus-cpp's TextSerializer on
// the same families, in turns, so machine noise hits all alike. The last variants render
// after a previous render of the same source (as the scheduler does each cycle) when
// none, 1 % or 10 % of the workspaces' values changed since: unchanged pieces are copied,
// not compressed again.
//
//   serialize [--workspaces=2000] [--agents=20] [--reps=5]
//
// The families have the runs collector's shape (docs/metrics.md): per workspace and
// agent a counter per status and three histograms of 28 buckets, labels are UUIDs. It
// prints one line per variant: median and minimum ms, series and MB.
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/exposition.h"

namespace {

std::string Uuid(unsigned a, unsigned b) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-a%03x-%012x", a * 2654435761u, b & 0xffff, a & 0xfff, b & 0xfff,
                a * 40503u + b);
  return buf;
}

// Every series of one workspace in `every` gets new values (a run finished there).
std::vector<prometheus::MetricFamily> Changed(std::vector<prometheus::MetricFamily> families, unsigned every, unsigned agents) {
  for (auto& family : families) {
    for (size_t i = 0; i < family.metric.size(); ++i) {
      auto& m = family.metric[i];
      const size_t workspace = family.type == prometheus::MetricType::Histogram ? i : i / (agents * 3);
      if (every == 0 || workspace % every != 0) continue;
      m.counter.value += 1;
      m.histogram.sample_count += 1;
      for (auto& b : m.histogram.bucket) b.cumulative_count += 1;
    }
  }
  return families;
}

std::vector<prometheus::MetricFamily> RunsShaped(unsigned workspaces, unsigned agents) {
  static const double kBuckets[] = {0.05, 0.1, 0.25, 0.5, 0.75, 1,   1.5, 2,    3,    5,    7.5,  10,   15,   20,
                                    30,   45,  60,   90,  120,  180, 300, 450,  600,  900,  1200, 1800, 2700, 3600};
  prometheus::MetricFamily finished{"agent_runs_finished_total", "Runs finished today.", prometheus::MetricType::Counter, {}};
  std::vector<prometheus::MetricFamily> hists;
  for (const char* name : {"agent_run_queue_wait_seconds", "agent_run_duration_seconds", "agent_run_e2e_seconds"}) {
    hists.push_back({name, "A histogram of today's runs.", prometheus::MetricType::Histogram, {}});
  }
  for (unsigned w = 0; w < workspaces; ++w) {
    const std::string ws = Uuid(w, 7);
    for (unsigned a = 0; a < agents; ++a) {
      const std::string agent = Uuid(w, a + 100);
      for (const char* status : {"completed", "failed", "cancelled"}) {
        prometheus::ClientMetric m;
        m.label = {{"workspace_id", ws}, {"agent_id", agent}, {"status", status}};
        m.counter.value = (w * 31 + a * 7) % 5000;
        finished.metric.push_back(m);
      }
    }
    for (auto& h : hists) {
      prometheus::ClientMetric m;
      m.label = {{"workspace_id", ws}};
      std::uint64_t count = 0;
      for (double le : kBuckets) {
        count += (w + static_cast<unsigned>(le)) % 40;
        m.histogram.bucket.push_back({count, le});
      }
      m.histogram.sample_count = count + 3;
      m.histogram.sample_sum = 12345.678 + w * 0.25;
      h.metric.push_back(std::move(m));
    }
  }
  hists.push_back(std::move(finished));
  return hists;
}

unsigned Flag(int argc, char** argv, std::string_view name, unsigned fallback) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg(argv[i]);
    if (arg.substr(0, name.size()) == name && arg.size() > name.size() && arg[name.size()] == '=') {
      return static_cast<unsigned>(std::strtoul(argv[i] + name.size() + 1, nullptr, 10));
    }
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const unsigned workspaces = Flag(argc, argv, "--workspaces", 2000);
  const unsigned agents = Flag(argc, argv, "--agents", 20);
  const unsigned reps = std::max(1u, Flag(argc, argv, "--reps", 5));
  const auto families = RunsShaped(workspaces, agents);
  struct Variant {
    const char* name;
    std::vector<double> ms;
    size_t bytes = 0;
  };
  std::vector<Variant> variants = {{"prometheus-cpp TextSerializer", {}},
                                   {"aee::SerializeText", {}},
                                   {"aee::RenderFamilies (text + deflate)", {}},
                                   {"aee::RenderFamilies after a render, nothing changed", {}},
                                   {"aee::RenderFamilies after a render, 1 % of workspaces changed", {}},
                                   {"aee::RenderFamilies after a render, 10 % of workspaces changed", {}}};
  const aee::RenderedFamilies previous = aee::RenderFamilies(families);
  const std::vector<std::vector<prometheus::MetricFamily>> changed = {families, Changed(families, 100, agents),
                                                                      Changed(families, 10, agents)};
  size_t gzip_bytes = 0;
  for (const auto& f : previous) {
    gzip_bytes += f.z_header.bytes.size();
    for (const auto& piece : f.z_samples) gzip_bytes += piece.bytes.size();
  }
  const size_t whole_gzip = aee::GzipCompress(aee::SerializeText(families)).size();
  for (unsigned r = 0; r < reps; ++r) {
    for (size_t v = 0; v < variants.size(); ++v) {
      const auto t0 = std::chrono::steady_clock::now();
      size_t bytes = 0;
      if (v == 0) {
        std::ostringstream out;
        prometheus::TextSerializer().Serialize(out, families);
        bytes = out.str().size();
      } else if (v == 1) {
        bytes = aee::SerializeText(families).size();
      } else if (v == 2) {
        for (const auto& f : aee::RenderFamilies(families)) bytes += f.header.size() + f.samples.size();
      } else {
        for (const auto& f : aee::RenderFamilies(changed[v - 3], &previous)) bytes += f.header.size() + f.samples.size();
      }
      variants[v].ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      variants[v].bytes = bytes;
    }
  }
  size_t series = 0;
  for (const auto& f : families) {
    for (const auto& m : f.metric) series += f.type == prometheus::MetricType::Histogram ? m.histogram.bucket.size() + 3 : 1;
  }
  std::printf("%u workspaces x %u agents: %zu series, %u reps in turns\n", workspaces, agents, series, reps);
  std::printf("| variant | median ms | min ms | MB |\n|---|---|---|---|\n");
  for (auto& v : variants) {
    std::sort(v.ms.begin(), v.ms.end());
    std::printf("| %s | %.0f | %.0f | %.1f |\n", v.name, v.ms[v.ms.size() / 2], v.ms.front(), v.bytes / 1e6);
  }
  std::printf("gzip: %.2f MB in pieces of %zu lines, %.2f MB as one stream\n", gzip_bytes / 1e6, aee::kLinesPerChunk,
              whole_gzip / 1e6);
  return 0;
}
