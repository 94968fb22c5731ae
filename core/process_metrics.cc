#include "core/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "core/metrics.h"

namespace aee {
namespace {

using prometheus::MetricType;

constexpr FamilySpec kCpu{"process_cpu_seconds_total", MetricType::Counter,
                          "Total user and system CPU time spent in seconds.", {}};
constexpr FamilySpec kRss{"process_resident_memory_bytes", MetricType::Gauge, "Resident memory size in bytes.", {}};
constexpr FamilySpec kVms{"process_virtual_memory_bytes", MetricType::Gauge, "Virtual memory size in bytes.", {}};
constexpr FamilySpec kStart{"process_start_time_seconds", MetricType::Gauge,
                            "Start time of the process since unix epoch in seconds.", {}};
constexpr FamilySpec kOpenFds{"process_open_fds", MetricType::Gauge, "Number of open file descriptors.", {}};
constexpr FamilySpec kMaxFds{"process_max_fds", MetricType::Gauge, "Maximum number of open file descriptors.", {}};
constexpr FamilySpec kFamilies[] = {kCpu, kRss, kVms, kStart, kOpenFds, kMaxFds};

double BootTime() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime") {
      in >> value;
      return value;
    }
    in.ignore(1 << 16, '\n');
  }
  return 0;
}

int CountOpenFds() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return 0;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the directory stream's own fd
}

}  // namespace

std::span<const FamilySpec> ProcessFamilies() { return kFamilies; }

std::vector<prometheus::MetricFamily> ProcessMetrics() {
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream fields(stat.substr(close + 2));
  std::string f[30];
  for (auto& s : f) fields >> s;
  // f[0] is field 3 (state); utime=14, stime=15, starttime=22, vsize=23, rss=24.
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  auto at = [&](int field) { return std::stod(f[field - 3].empty() ? "0" : f[field - 3]); };

  std::vector<prometheus::MetricFamily> out;
  auto add = [&](const FamilySpec& spec, double v) {
    FamilyBuilder b(spec);
    b.Add({}, v);
    out.push_back(b.Take());
  };
  add(kCpu, (at(14) + at(15)) / ticks);
  add(kRss, at(24) * page);
  add(kVms, at(23));
  add(kStart, BootTime() + at(22) / ticks);
  add(kOpenFds, CountOpenFds());
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) add(kMaxFds, static_cast<double>(lim.rlim_cur));
  return out;
}

}  // namespace aee
