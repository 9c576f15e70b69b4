// An independent parser and linter: `promtool check metrics` (Prometheus 2.x) must accept a
// rendered registry holding every metric kind, with no lint findings. A deliberately broken
// exposition must be rejected, so the harness itself is known to detect failures.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>

#include "gtest/gtest.h"
#include "metrics/buckets.h"
#include "metrics/process_metrics.h"
#include "metrics/registry.h"

namespace hearth::metrics {
namespace {

struct CheckResult {
  int exit_code = -1;
  std::string output;
};

bool HavePromtool() { return std::system("command -v promtool >/dev/null 2>&1") == 0; }

CheckResult PromtoolCheck(const std::string& text) {
  const std::string path =
      ::testing::TempDir() + "/promtool_input_" + std::to_string(getpid()) + ".txt";
  std::ofstream(path) << text;
  CheckResult result;
  FILE* pipe = popen(("promtool check metrics < " + path + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof(buf), pipe)) result.output.append(buf, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::remove(path.c_str());
  return result;
}

TEST(PromtoolTest, AcceptsEveryMetricKind) {
  if (!HavePromtool()) GTEST_SKIP() << "promtool not on PATH (Debian package 'prometheus')";
  Registry r;
  auto requests = r.AddCounter("hearth_requests_total", "Requests.\nBy \\route\\.", {"route"});
  auto running = r.AddGauge("hearth_running_requests", "Running requests.", {"model"});
  auto ttft = r.AddHistogram("hearth_time_to_first_token_seconds", "TTFT.", {"model"},
                             TimeToFirstTokenBuckets());
  auto tokens = r.AddHistogram("hearth_generation_tokens", "Tokens per request.", {},
                               OneTwoFiveBuckets(4096));
  ASSERT_TRUE(requests.ok() && running.ok() && ttft.ok() && tokens.ok());
  (*(*requests)->WithLabels({"generate \"quoted\"\nnewline\\"}))->Increment(7);
  (*(*requests)->WithLabels({""}))->Increment();
  (*(*running)->WithLabels({"smol"}))->Set(std::numeric_limits<double>::quiet_NaN());
  (*(*running)->WithLabels({"big"}))->Set(-std::numeric_limits<double>::infinity());
  for (double v : {0.0005, 0.03, 1.5, 90.0}) (*(*ttft)->WithLabels({"smol"}))->Observe(v);
  (*(*tokens)->WithLabels({}))->Observe(100);
  ASSERT_TRUE(r.AddInfo("hearth_build_info", "Build.", {{"version", "0.1.0"}}).ok());
  ASSERT_TRUE(
      r.AddCallbackGauge("hearth_kv_cache_usage_ratio", "KV.", {}, [] { return 0.5; }).ok());
  ASSERT_TRUE(RegisterProcessMetrics(&r).ok());

  const std::string text = r.Render();
  CheckResult result = PromtoolCheck(text);
  EXPECT_EQ(result.exit_code, 0) << result.output << "\n--- input ---\n" << text;
  EXPECT_EQ(result.output, "") << "--- input ---\n" << text;
}

TEST(PromtoolTest, HarnessDetectsBrokenInput) {
  if (!HavePromtool()) GTEST_SKIP() << "promtool not on PATH (Debian package 'prometheus')";
  // Unescaped quote in a label value: a parse error.
  EXPECT_NE(PromtoolCheck("# TYPE x gauge\nx{a=\"b\"c\"} 1\n").exit_code, 0);
  // A lint finding: counter without the _total suffix.
  EXPECT_NE(PromtoolCheck("# HELP x h\n# TYPE x counter\nx 1\n").exit_code, 0);
}

}  // namespace
}  // namespace hearth::metrics
