// Process metrics: /proc parsing on fixed text, and live values checked against independent
// sources (/proc/self/statm, getrusage, time(), opened descriptors).
#include "metrics/process_metrics.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <ctime>
#include <fstream>
#include <map>
#include <string>

#include "gtest/gtest.h"

namespace hearth::metrics {
namespace {

TEST(ProcessMetricsTest, ParseProcStatHandlesOddCommandNames) {
  // Fields 3.. after "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt
  // cmajflt utime(14) stime(15) cutime cstime priority nice threads itreal starttime(22)
  // vsize(23) rss(24) ...
  const std::string tail =
      " S 1 2 3 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 12345 987654321 4321 1844 0";
  for (const char* comm : {"(hearth)", "(a b) c)", "(()"}) {
    absl::StatusOr<ProcStat> s = ParseProcStat(std::string("4242 ") + comm + tail);
    ASSERT_TRUE(s.ok()) << comm << ": " << s.status();
    EXPECT_EQ(s->utime_ticks, 250);
    EXPECT_EQ(s->stime_ticks, 50);
    EXPECT_EQ(s->start_time_ticks, 12345);
    EXPECT_EQ(s->vsize_bytes, 987654321);
    EXPECT_EQ(s->rss_pages, 4321);
  }
  EXPECT_FALSE(ParseProcStat("4242 (x) S 1 2 3").ok());
  EXPECT_FALSE(ParseProcStat("no parenthesis").ok());
}

TEST(ProcessMetricsTest, ParseBootTime) {
  auto t = ParseBootTime("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, 1700000000);
  EXPECT_FALSE(ParseBootTime("cpu 1 2 3\n").ok());
}

std::map<std::string, double> Values(const Registry& r) {
  std::map<std::string, double> out;
  for (const prometheus::MetricFamily& f : r.Collect()) {
    if (f.metric.size() != 1) continue;
    out[f.name] = f.type == prometheus::MetricType::Counter ? f.metric[0].counter.value
                                                            : f.metric[0].gauge.value;
  }
  return out;
}

TEST(ProcessMetricsTest, LiveValuesMatchIndependentSources) {
  Registry r;
  ASSERT_TRUE(RegisterProcessMetrics(&r).ok());
  EXPECT_FALSE(RegisterProcessMetrics(&r).ok());  // names already taken

  // Burn ~0.2 s of CPU so the CPU counter has something to measure.
  volatile double x = 0;
  const clock_t start = clock();
  while (clock() - start < CLOCKS_PER_SEC / 5) x = x + 1;

  std::map<std::string, double> v = Values(r);
  ASSERT_EQ(v.size(), 6u);

  long statm_size = 0, statm_resident = 0;
  std::ifstream("/proc/self/statm") >> statm_size >> statm_resident;
  const double page = sysconf(_SC_PAGESIZE);
  EXPECT_NEAR(v["process_resident_memory_bytes"], statm_resident * page,
              0.1 * statm_resident * page);
  EXPECT_NEAR(v["process_virtual_memory_bytes"], statm_size * page, 0.1 * statm_size * page);

  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double rusage_cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec * 1e-6 +
                            usage.ru_stime.tv_sec + usage.ru_stime.tv_usec * 1e-6;
  EXPECT_GE(v["process_cpu_seconds_total"], 0.15);
  EXPECT_NEAR(v["process_cpu_seconds_total"], rusage_cpu, 0.05);

  const double now = static_cast<double>(time(nullptr));
  EXPECT_LE(v["process_start_time_seconds"], now + 1);
  EXPECT_GE(v["process_start_time_seconds"], now - 3600);

  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  EXPECT_EQ(v["process_max_fds"], static_cast<double>(limit.rlim_cur));

  // Opening three descriptors raises the count by exactly three.
  const double fds_before = v["process_open_fds"];
  EXPECT_GE(fds_before, 3);  // stdin, stdout, stderr at least
  int fds[3];
  for (int& fd : fds) fd = open("/dev/null", O_RDONLY);
  EXPECT_EQ(Values(r)["process_open_fds"], fds_before + 3);
  for (int fd : fds) close(fd);
  EXPECT_EQ(Values(r)["process_open_fds"], fds_before);
}

}  // namespace
}  // namespace hearth::metrics
