// Standard process metrics (the names client_golang and prometheus-cpp use), read from
// /proc/self at scrape time:
//   process_resident_memory_bytes  gauge    resident set size
//   process_virtual_memory_bytes   gauge    virtual memory size
//   process_cpu_seconds_total      counter  user + system CPU time
//   process_start_time_seconds     gauge    start time since the Unix epoch
//   process_open_fds               gauge    open file descriptors
//   process_max_fds                gauge    the RLIMIT_NOFILE soft limit
// Linux only. Thread-safety: the functions are thread-safe.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "metrics/registry.h"

namespace hearth::metrics {

// The fields of /proc/<pid>/stat this module uses, in the kernel's units.
struct ProcStat {
  double utime_ticks = 0;       // field 14
  double stime_ticks = 0;       // field 15
  double start_time_ticks = 0;  // field 22, since boot
  double vsize_bytes = 0;       // field 23
  double rss_pages = 0;         // field 24
};

// Parses the text of /proc/<pid>/stat. The command name (field 2) may hold spaces and
// parentheses; the fields after the last ')' are counted from 3. InvalidArgument when short.
absl::StatusOr<ProcStat> ParseProcStat(absl::string_view text);

// The "btime" line of /proc/stat: boot time in seconds since the epoch.
absl::StatusOr<double> ParseBootTime(absl::string_view proc_stat_text);

// Registers the six process_* metrics above on `registry`. Fails if any name is taken or if
// /proc cannot be read now. Values that cannot be read at a later scrape render as NaN.
absl::Status RegisterProcessMetrics(Registry* registry);

}  // namespace hearth::metrics
