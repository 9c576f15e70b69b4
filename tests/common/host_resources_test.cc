// host_resources on fake /proc and cgroup trees: cgroup v1 and v2 layouts, containers with and
// without a cgroup namespace, limits on a parent, "max" / unlimited values and missing files.
#include "common/host_resources.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace hearth::common {
namespace {

constexpr int64_t kMiB = 1 << 20;
constexpr int64_t kGiB = 1 << 30;
constexpr char kMeminfo20G[] =
    "MemTotal:       24000000 kB\nMemFree:        1000 kB\nMemAvailable:   20971520 kB\n";

// mountinfo lines of the usual layouts.
constexpr char kV2Mount[] =
    "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate\n";
std::string V1Mount(const std::string& root, const std::string& point, const std::string& opts) {
  return "40 30 0:33 " + root + " " + point + " rw,nosuid - cgroup cgroup rw," + opts + "\n";
}

// A fake host: files under a fresh temporary directory.
class FakeHost {
 public:
  explicit FakeHost(std::map<std::string, std::string> files) {
    dir_ = std::filesystem::path(testing::TempDir()) /
           ("host_resources_" + std::to_string(counter_++) + "_" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    for (const auto& [path, text] : files) {
      const std::filesystem::path p = dir_ / path.substr(1);
      std::filesystem::create_directories(p.parent_path());
      std::ofstream(p) << text;
    }
  }
  ~FakeHost() { std::filesystem::remove_all(dir_); }
  HostRoots roots() const { return {.proc = (dir_ / "proc").string(), .root = dir_.string()}; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path dir_;
};

struct MemoryCase {
  std::string name;
  std::map<std::string, std::string> files;
  int64_t want_available;
  int want_version;
  int64_t want_limit;
};

class MemoryTest : public testing::TestWithParam<MemoryCase> {};

TEST_P(MemoryTest, Available) {
  const MemoryCase& c = GetParam();
  FakeHost host(c.files);
  const MemoryReport r = InspectMemory(host.roots());
  EXPECT_EQ(r.available, c.want_available) << DescribeMemory(r);
  EXPECT_EQ(r.cgroup_version, c.want_version);
  EXPECT_EQ(r.cgroup_limit, c.want_limit);
  EXPECT_EQ(AvailableMemoryBytes(host.roots()), c.want_available);
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, MemoryTest,
    testing::Values(
        MemoryCase{"NoCgroupFiles", {{"/proc/meminfo", kMeminfo20G}}, 20 * kGiB, 0, -1},
        MemoryCase{"NothingReadable", {{"/proc/unrelated", ""}}, 0, 0, -1},
        MemoryCase{"V2LeafLimitMinusWorkingSet",
                   {{"/proc/meminfo", kMeminfo20G},
                    {"/proc/self/cgroup", "0::/kubepods/pod1/ctr\n"},
                    {"/proc/self/mountinfo", kV2Mount},
                    {"/sys/fs/cgroup/kubepods/pod1/ctr/memory.max", "1073741824\n"},
                    {"/sys/fs/cgroup/kubepods/pod1/ctr/memory.current", "314572800\n"},
                    {"/sys/fs/cgroup/kubepods/pod1/ctr/memory.stat",
                     "anon 200000\nfile 104857600\ninactive_file 104857600\nactive_file 0\n"}},
                   kGiB - 200 * kMiB,
                   2,
                   kGiB},
        MemoryCase{"V2MaxAtLeafLimitOnParent",
                   {{"/proc/meminfo", kMeminfo20G},
                    {"/proc/self/cgroup", "0::/kubepods/pod1/ctr\n"},
                    {"/proc/self/mountinfo", kV2Mount},
                    {"/sys/fs/cgroup/kubepods/pod1/ctr/memory.max", "max\n"},
                    {"/sys/fs/cgroup/kubepods/pod1/ctr/memory.current", "100\n"},
                    {"/sys/fs/cgroup/kubepods/pod1/memory.max", "2147483648\n"},
                    {"/sys/fs/cgroup/kubepods/pod1/memory.current", "1610612736\n"},
                    {"/sys/fs/cgroup/kubepods/memory.max", "max\n"}},
                   512 * kMiB,
                   2,
                   2 * kGiB},
        MemoryCase{"V2CgroupNamespaceRootIsTheContainer",
                   {{"/proc/meminfo", kMeminfo20G},
                    {"/proc/self/cgroup", "0::/\n"},
                    {"/proc/self/mountinfo", kV2Mount},
                    {"/sys/fs/cgroup/memory.max", "1073741824\n"},
                    {"/sys/fs/cgroup/memory.current", "0\n"}},
                   kGiB,
                   2,
                   kGiB},
        MemoryCase{"V2MissingUsageCountsAsZero",
                   {{"/proc/meminfo", kMeminfo20G},
                    {"/proc/self/cgroup", "0::/a\n"},
                    {"/proc/self/mountinfo", kV2Mount},
                    {"/sys/fs/cgroup/a/memory.max", "536870912\n"}},
                   512 * kMiB,
                   2,
                   512 * kMiB},
        MemoryCase{"V2LimitAboveMemAvailable",
                   {{"/proc/meminfo", "MemAvailable:   1048576 kB\n"},
                    {"/proc/self/cgroup", "0::/a\n"},
                    {"/proc/self/mountinfo", kV2Mount},
                    {"/sys/fs/cgroup/a/memory.max", "4294967296\n"},
                    {"/sys/fs/cgroup/a/memory.current", "0\n"}},
                   kGiB,
                   2,
                   4 * kGiB},
        MemoryCase{
            "V1ContainerWithoutNamespace",
            {{"/proc/meminfo", kMeminfo20G},
             {"/proc/self/cgroup",
              "4:memory:/libpod_parent/libpod-abc\n1:cpu,cpuacct:/libpod_parent/libpod-abc\n"
              "0::/libpod_parent/libpod-abc\n"},
             {"/proc/self/mountinfo",
              V1Mount("/libpod_parent/libpod-abc", "/sys/fs/cgroup/memory", "memory") + kV2Mount},
             {"/sys/fs/cgroup/memory/memory.limit_in_bytes", "1073741824\n"},
             {"/sys/fs/cgroup/memory/memory.usage_in_bytes", "209715200\n"},
             {"/sys/fs/cgroup/memory/memory.stat",
              "cache 0\ninactive_file 1\ntotal_inactive_file 104857600\n"}},
            kGiB - 100 * kMiB,
            1,
            kGiB},
        MemoryCase{
            "V1NestedLimitOnParentNoTotalStat",
            {{"/proc/meminfo", kMeminfo20G},
             {"/proc/self/cgroup", "9:memory:/svc/worker\n"},
             {"/proc/self/mountinfo", V1Mount("/", "/sys/fs/cgroup/memory", "memory")},
             {"/sys/fs/cgroup/memory/svc/worker/memory.limit_in_bytes", "9223372036854771712\n"},
             {"/sys/fs/cgroup/memory/svc/memory.limit_in_bytes", "1073741824\n"},
             {"/sys/fs/cgroup/memory/svc/memory.usage_in_bytes", "104857600\n"},
             {"/sys/fs/cgroup/memory/svc/memory.stat", "inactive_file 52428800\n"},
             {"/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n"}},
            kGiB - 50 * kMiB,
            1,
            kGiB},
        MemoryCase{"V1Unlimited",
                   {{"/proc/meminfo", kMeminfo20G},
                    {"/proc/self/cgroup", "4:memory:/\n"},
                    {"/proc/self/mountinfo", V1Mount("/", "/sys/fs/cgroup/memory", "memory")},
                    {"/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n"},
                    {"/sys/fs/cgroup/memory/memory.usage_in_bytes", "5000000\n"}},
                   20 * kGiB,
                   0,
                   -1},
        MemoryCase{"UsageAboveLimitIsZero",
                   {{"/proc/meminfo", kMeminfo20G},
                    {"/proc/self/cgroup", "0::/a\n"},
                    {"/proc/self/mountinfo", kV2Mount},
                    {"/sys/fs/cgroup/a/memory.max", "1000\n"},
                    {"/sys/fs/cgroup/a/memory.current", "5000\n"}},
                   0,
                   2,
                   1000}),
    [](const testing::TestParamInfo<MemoryCase>& info) { return info.param.name; });

struct CpuCase {
  std::string name;
  std::map<std::string, std::string> files;
  int want_usable;
  double want_quota;
};

class CpuTest : public testing::TestWithParam<CpuCase> {};

TEST_P(CpuTest, Usable) {
  const CpuCase& c = GetParam();
  FakeHost host(c.files);
  const CpuReport r = InspectCpus(host.roots());
  EXPECT_EQ(r.usable, c.want_usable) << DescribeCpus(r);
  EXPECT_DOUBLE_EQ(r.quota_cpus, c.want_quota);
  EXPECT_EQ(UsableCpuCount(host.roots()), c.want_usable);
}

const char kStatus8[] = "Name:\thearth\nCpus_allowed:\tff\nCpus_allowed_list:\t0-7\n";

INSTANTIATE_TEST_SUITE_P(
    Layouts, CpuTest,
    testing::Values(
        CpuCase{"AffinityOnly", {{"/proc/self/status", "Cpus_allowed_list:\t0,2-3\n"}}, 3, 0},
        CpuCase{"V2FractionalQuotaRoundsUp",
                {{"/proc/self/status", kStatus8},
                 {"/proc/self/cgroup", "0::/ctr\n"},
                 {"/proc/self/mountinfo", kV2Mount},
                 {"/sys/fs/cgroup/ctr/cpu.max", "150000 100000\n"}},
                2,
                1.5},
        CpuCase{"V2MaxMeansNoQuota",
                {{"/proc/self/status", kStatus8},
                 {"/proc/self/cgroup", "0::/ctr\n"},
                 {"/proc/self/mountinfo", kV2Mount},
                 {"/sys/fs/cgroup/ctr/cpu.max", "max 100000\n"}},
                8,
                0},
        CpuCase{"V2QuotaOnParent",
                {{"/proc/self/status", kStatus8},
                 {"/proc/self/cgroup", "0::/pod/ctr\n"},
                 {"/proc/self/mountinfo", kV2Mount},
                 {"/sys/fs/cgroup/pod/ctr/cpu.max", "max 100000\n"},
                 {"/sys/fs/cgroup/pod/cpu.max", "300000 100000\n"}},
                3,
                3},
        CpuCase{"V1QuotaWithCpuacct",
                {{"/proc/self/status", kStatus8},
                 {"/proc/self/cgroup", "3:cpuset:/\n2:cpu,cpuacct:/docker/x\n"},
                 {"/proc/self/mountinfo",
                  V1Mount("/", "/sys/fs/cgroup/cpuset", "cpuset") +
                      V1Mount("/docker/x", "/sys/fs/cgroup/cpu,cpuacct", "cpu,cpuacct")},
                 {"/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "50000\n"},
                 {"/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n"}},
                1,
                0.5},
        CpuCase{"V1NoQuota",
                {{"/proc/self/status", kStatus8},
                 {"/proc/self/cgroup", "2:cpu:/\n"},
                 {"/proc/self/mountinfo", V1Mount("/", "/sys/fs/cgroup/cpu", "cpu")},
                 {"/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n"},
                 {"/sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n"}},
                8,
                0},
        CpuCase{"QuotaAboveAffinity",
                {{"/proc/self/status", "Cpus_allowed_list:\t0-1\n"},
                 {"/proc/self/cgroup", "0::/\n"},
                 {"/proc/self/mountinfo", kV2Mount},
                 {"/sys/fs/cgroup/cpu.max", "400000 100000\n"}},
                2,
                4}),
    [](const testing::TestParamInfo<CpuCase>& info) { return info.param.name; });

TEST(CpuTest, NothingReadableFallsBackToHardwareThreads) {
  FakeHost host(std::map<std::string, std::string>{{"/proc/unrelated", ""}});
  const int want = std::max(1u, std::thread::hardware_concurrency());
  EXPECT_EQ(UsableCpuCount(host.roots()), want);
}

TEST(HostResourcesTest, RealHostAnswersSomething) {
  EXPECT_GT(AvailableMemoryBytes(), 0) << DescribeMemory(InspectMemory());
  EXPECT_GE(UsableCpuCount(), 1);
}

TEST(ResidentBytesTest, ReadsTheSecondFieldOfStatmInPages) {
  FakeHost host(
      std::map<std::string, std::string>{{"/proc/self/statm", "9000 250 40 10 0 99 0\n"}});
  EXPECT_EQ(ResidentBytes(host.roots()), 250 * ::sysconf(_SC_PAGESIZE));
}

TEST(ResidentBytesTest, UnreadableOrMalformedIsZero) {
  FakeHost missing(std::map<std::string, std::string>{{"/proc/unrelated", ""}});
  EXPECT_EQ(ResidentBytes(missing.roots()), 0);
  FakeHost malformed(std::map<std::string, std::string>{{"/proc/self/statm", "9000 x\n"}});
  EXPECT_EQ(ResidentBytes(malformed.roots()), 0);
}

TEST(ResidentBytesTest, GrowsWhenThisProcessTouchesMemory) {
  const int64_t before = ResidentBytes();
  ASSERT_GT(before, 0);
  std::vector<char> block(64 * kMiB, 1);  // written, so resident
  EXPECT_GE(ResidentBytes(), before + 32 * kMiB);
  EXPECT_EQ(block[12345], 1);
}

}  // namespace
}  // namespace hearth::common
