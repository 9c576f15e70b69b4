#include "metrics/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace hearth::metrics {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

absl::StatusOr<std::string> ReadFile(const char* path) {
  std::ifstream in(path);
  if (!in) return absl::UnavailableError(absl::StrCat("cannot open ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<ProcStat> ReadSelfStat() {
  ASSIGN_OR_RETURN(std::string text, ReadFile("/proc/self/stat"));
  return ParseProcStat(text);
}

// Applies `fn` to a fresh /proc/self/stat; NaN when it cannot be read.
template <typename Fn>
double FromSelfStat(Fn fn) {
  absl::StatusOr<ProcStat> stat = ReadSelfStat();
  return stat.ok() ? fn(*stat) : kNaN;
}

double CountOpenFds() {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/fd", ec);
  if (ec) return kNaN;
  double n = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) return kNaN;
    ++n;
  }
  // The iterator's own descriptor is listed while it is open; do not count it.
  return n - 1;
}

double MaxFds() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return kNaN;
  return limit.rlim_cur == RLIM_INFINITY ? std::numeric_limits<double>::infinity()
                                         : static_cast<double>(limit.rlim_cur);
}

}  // namespace

absl::StatusOr<ProcStat> ParseProcStat(absl::string_view text) {
  const size_t close = text.rfind(')');
  if (close == absl::string_view::npos) {
    return absl::InvalidArgumentError("/proc stat: no ')' after the command name");
  }
  std::vector<absl::string_view> fields =
      absl::StrSplit(text.substr(close + 1), ' ', absl::SkipWhitespace());
  // fields[0] is field 3 (state); field k is fields[k - 3].
  auto field = [&](size_t k, double* out) -> absl::Status {
    if (k - 3 >= fields.size() || !absl::SimpleAtod(fields[k - 3], out)) {
      return absl::InvalidArgumentError(absl::StrCat("/proc stat: bad or missing field ", k));
    }
    return absl::OkStatus();
  };
  ProcStat stat;
  RETURN_IF_ERROR(field(14, &stat.utime_ticks));
  RETURN_IF_ERROR(field(15, &stat.stime_ticks));
  RETURN_IF_ERROR(field(22, &stat.start_time_ticks));
  RETURN_IF_ERROR(field(23, &stat.vsize_bytes));
  RETURN_IF_ERROR(field(24, &stat.rss_pages));
  return stat;
}

absl::StatusOr<double> ParseBootTime(absl::string_view proc_stat_text) {
  for (absl::string_view line : absl::StrSplit(proc_stat_text, '\n')) {
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    double btime = 0;
    if (parts.size() == 2 && parts[0] == "btime" && absl::SimpleAtod(parts[1], &btime)) {
      return btime;
    }
  }
  return absl::InvalidArgumentError("/proc/stat: no btime line");
}

absl::Status RegisterProcessMetrics(Registry* registry) {
  const double ticks_per_second = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page_bytes = static_cast<double>(sysconf(_SC_PAGESIZE));
  ASSIGN_OR_RETURN(ProcStat stat, ReadSelfStat());
  ASSIGN_OR_RETURN(std::string proc_stat, ReadFile("/proc/stat"));
  ASSIGN_OR_RETURN(double boot_time, ParseBootTime(proc_stat));
  const double start_time = boot_time + stat.start_time_ticks / ticks_per_second;

  RETURN_IF_ERROR(registry->AddCallbackGauge(
      "process_resident_memory_bytes", "Resident memory size in bytes.", {}, [page_bytes] {
        return FromSelfStat([&](const ProcStat& s) { return s.rss_pages * page_bytes; });
      }));
  RETURN_IF_ERROR(registry->AddCallbackGauge(
      "process_virtual_memory_bytes", "Virtual memory size in bytes.", {},
      [] { return FromSelfStat([](const ProcStat& s) { return s.vsize_bytes; }); }));
  RETURN_IF_ERROR(registry->AddCallbackCounter(
      "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", {},
      [ticks_per_second] {
        return FromSelfStat(
            [&](const ProcStat& s) { return (s.utime_ticks + s.stime_ticks) / ticks_per_second; });
      }));
  RETURN_IF_ERROR(registry->AddCallbackGauge(
      "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", {},
      [start_time] { return start_time; }));
  RETURN_IF_ERROR(registry->AddCallbackGauge("process_open_fds", "Number of open file descriptors.",
                                             {}, CountOpenFds));
  RETURN_IF_ERROR(registry->AddCallbackGauge(
      "process_max_fds", "Maximum number of open file descriptors.", {}, MaxFds));
  return absl::OkStatus();
}

}  // namespace hearth::metrics
