#include "common/host_resources.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace hearth::common {
namespace {

// cgroup v1 reports "no limit" as a page-rounded LONG_MAX; anything this large is no limit.
constexpr int64_t kNoLimit = int64_t{1} << 62;

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The first line of a file, trimmed; nullopt when missing.
std::optional<std::string> ReadLine(const std::string& path) {
  std::optional<std::string> text = ReadFile(path);
  if (!text.has_value()) return std::nullopt;
  std::string line = text->substr(0, text->find('\n'));
  return std::string(absl::StripAsciiWhitespace(line));
}

std::optional<int64_t> ReadInt(const std::string& path) {
  std::optional<std::string> line = ReadLine(path);
  int64_t v = 0;
  if (!line.has_value() || !absl::SimpleAtoi(*line, &v)) return std::nullopt;
  return v;
}

// The value of `key` in a "key value" file (memory.stat), or nullopt.
std::optional<int64_t> ReadStat(const std::string& path, const std::string& key) {
  std::optional<std::string> text = ReadFile(path);
  if (!text.has_value()) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    int64_t v = 0;
    if (f.size() == 2 && f[0] == key && absl::SimpleAtoi(f[1], &v)) return v;
  }
  return std::nullopt;
}

// Where one cgroup hierarchy is mounted and where this process sits in it.
struct CgroupDir {
  int version = 0;    // 1 or 2
  std::string mount;  // root + mount point, e.g. "/sys/fs/cgroup/memory"
  std::string leaf;   // mount + the process's path below the mount's root
};

struct MountEntry {
  std::string root;  // the mounted subtree of the hierarchy ("/" unless bind-mounted)
  std::string mount_point;
  std::string fstype;
  std::vector<std::string> super_options;
};

std::vector<MountEntry> ReadMounts(const HostRoots& roots) {
  std::vector<MountEntry> mounts;
  std::optional<std::string> text = ReadFile(roots.proc + "/self/mountinfo");
  if (!text.has_value()) return mounts;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 5 || dash == f.end() || f.end() - dash < 4) continue;
    MountEntry m;
    m.root = f[3];
    m.mount_point = f[4];
    m.fstype = *(dash + 1);
    m.super_options = absl::StrSplit(*(dash + 3), ',');
    mounts.push_back(std::move(m));
  }
  return mounts;
}

// The process's cgroup for `controller` ("memory", "cpu"): a v1 hierarchy that has the
// controller, else the v2 hierarchy. nullopt without cgroups.
std::optional<CgroupDir> FindCgroup(const HostRoots& roots, const std::string& controller) {
  std::optional<std::string> self = ReadFile(roots.proc + "/self/cgroup");
  if (!self.has_value()) return std::nullopt;
  std::optional<std::string> v1_path;
  std::optional<std::string> v2_path;
  for (absl::string_view line : absl::StrSplit(*self, '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (f.size() != 3) continue;
    if (f[0] == "0" && f[1].empty()) {
      v2_path = f[2];
      continue;
    }
    for (absl::string_view c : absl::StrSplit(f[1], ',')) {
      if (c == controller) v1_path = f[2];
    }
  }
  const std::vector<MountEntry> mounts = ReadMounts(roots);
  auto locate = [&](const std::string& path, int version) -> std::optional<CgroupDir> {
    for (const MountEntry& m : mounts) {
      const bool match =
          version == 2
              ? m.fstype == "cgroup2"
              : m.fstype == "cgroup" && std::find(m.super_options.begin(), m.super_options.end(),
                                                  controller) != m.super_options.end();
      if (!match) continue;
      CgroupDir dir;
      dir.version = version;
      dir.mount = roots.root + (m.mount_point == "/" ? "" : m.mount_point);
      // Inside a container without a cgroup namespace the path is the host's and the mount's
      // root is the container's own cgroup: the process sits at the mount point itself.
      std::string rel;
      if (m.root == "/") {
        rel = path;
      } else if (path.rfind(m.root, 0) == 0) {
        rel = path.substr(m.root.size());
      }
      if (rel == "/") rel.clear();
      dir.leaf = dir.mount + rel;
      return dir;
    }
    return std::nullopt;
  };
  if (v1_path.has_value()) {
    if (auto dir = locate(*v1_path, 1)) return dir;
  }
  if (v2_path.has_value()) return locate(*v2_path, 2);
  return std::nullopt;
}

// Calls `visit(dir)` for the leaf and each parent up to and including the mount point.
template <typename Visit>
void WalkUp(const CgroupDir& cg, Visit visit) {
  std::string dir = cg.leaf;
  while (true) {
    visit(dir);
    if (dir.size() <= cg.mount.size()) break;
    const size_t slash = dir.rfind('/');
    if (slash == std::string::npos || slash < cg.mount.size()) {
      dir = cg.mount;
    } else {
      dir.resize(slash);
    }
  }
}

int64_t MemAvailable(const HostRoots& roots) {
  std::optional<std::string> text = ReadFile(roots.proc + "/meminfo");
  if (!text.has_value()) return -1;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    int64_t kib = 0;
    if (f.size() >= 2 && f[0] == "MemAvailable:" && absl::SimpleAtoi(f[1], &kib)) {
      return kib * 1024;
    }
  }
  return -1;
}

// "0-3,6,8-9" -> 7; 0 when malformed.
int CountCpuList(absl::string_view list) {
  int count = 0;
  for (absl::string_view part : absl::StrSplit(list, ',', absl::SkipEmpty())) {
    std::vector<absl::string_view> r = absl::StrSplit(part, '-');
    int lo = 0;
    int hi = 0;
    if (r.size() == 1 && absl::SimpleAtoi(r[0], &lo)) {
      hi = lo;
    } else if (r.size() != 2 || !absl::SimpleAtoi(r[0], &lo) || !absl::SimpleAtoi(r[1], &hi) ||
               hi < lo) {
      return 0;
    }
    count += hi - lo + 1;
  }
  return count;
}

int AffinityCpus(const HostRoots& roots) {
  std::optional<std::string> text = ReadFile(roots.proc + "/self/status");
  if (!text.has_value()) return 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (absl::ConsumePrefix(&line, "Cpus_allowed_list:")) {
      return CountCpuList(absl::StripAsciiWhitespace(line));
    }
  }
  return 0;
}

// quota / period of one cgroup directory; nullopt when it sets no quota.
std::optional<double> CpuQuota(const std::string& dir, int version) {
  if (version == 2) {
    std::optional<std::string> line = ReadLine(dir + "/cpu.max");
    if (!line.has_value()) return std::nullopt;
    std::vector<std::string> f = absl::StrSplit(*line, ' ', absl::SkipEmpty());
    int64_t quota = 0;
    int64_t period = 100000;
    if (f.empty() || f[0] == "max" || !absl::SimpleAtoi(f[0], &quota) || quota <= 0) {
      return std::nullopt;
    }
    if (f.size() >= 2 && (!absl::SimpleAtoi(f[1], &period) || period <= 0)) return std::nullopt;
    return static_cast<double>(quota) / period;
  }
  std::optional<int64_t> quota = ReadInt(dir + "/cpu.cfs_quota_us");
  std::optional<int64_t> period = ReadInt(dir + "/cpu.cfs_period_us");
  if (!quota.has_value() || *quota <= 0 || !period.has_value() || *period <= 0) {
    return std::nullopt;
  }
  return static_cast<double>(*quota) / *period;
}

std::string Mib(int64_t bytes) { return absl::StrCat(bytes >> 20, " MiB"); }

}  // namespace

MemoryReport InspectMemory(const HostRoots& roots) {
  MemoryReport r;
  r.mem_available = MemAvailable(roots);
  int64_t headroom = std::numeric_limits<int64_t>::max();
  if (std::optional<CgroupDir> cg = FindCgroup(roots, "memory")) {
    const bool v2 = cg->version == 2;
    WalkUp(*cg, [&](const std::string& dir) {
      std::optional<int64_t> limit;
      if (v2) {
        std::optional<std::string> line = ReadLine(dir + "/memory.max");
        int64_t v = 0;
        if (line.has_value() && absl::SimpleAtoi(*line, &v)) limit = v;
      } else {
        limit = ReadInt(dir + "/memory.limit_in_bytes");
      }
      if (!limit.has_value() || *limit < 0 || *limit >= kNoLimit) return;
      int64_t usage =
          ReadInt(dir + (v2 ? "/memory.current" : "/memory.usage_in_bytes")).value_or(0);
      std::optional<int64_t> inactive =
          ReadStat(dir + "/memory.stat", v2 ? "inactive_file" : "total_inactive_file");
      if (!v2 && !inactive.has_value()) inactive = ReadStat(dir + "/memory.stat", "inactive_file");
      usage = std::max<int64_t>(0, usage - std::min(usage, inactive.value_or(0)));
      const int64_t room = std::max<int64_t>(0, *limit - usage);
      if (room < headroom) {
        headroom = room;
        r.cgroup_limit = *limit;
        r.cgroup_usage = usage;
        r.cgroup_version = cg->version;
        r.cgroup_path = dir;
      }
    });
  }
  if (r.mem_available >= 0 && r.mem_available < headroom) {
    r.available = r.mem_available;
  } else if (headroom != std::numeric_limits<int64_t>::max()) {
    r.available = headroom;
  }
  return r;
}

CpuReport InspectCpus(const HostRoots& roots) {
  CpuReport r;
  r.affinity_cpus = AffinityCpus(roots);
  if (std::optional<CgroupDir> cg = FindCgroup(roots, "cpu")) {
    WalkUp(*cg, [&](const std::string& dir) {
      std::optional<double> quota = CpuQuota(dir, cg->version);
      if (quota.has_value() && (r.quota_cpus == 0 || *quota < r.quota_cpus)) {
        r.quota_cpus = *quota;
        r.cgroup_version = cg->version;
      }
    });
  }
  int cpus =
      r.affinity_cpus > 0 ? r.affinity_cpus : static_cast<int>(std::thread::hardware_concurrency());
  if (r.quota_cpus > 0) cpus = std::min(cpus, static_cast<int>(std::ceil(r.quota_cpus - 1e-9)));
  r.usable = std::max(1, cpus);
  return r;
}

int64_t AvailableMemoryBytes(const HostRoots& roots) { return InspectMemory(roots).available; }

int UsableCpuCount(const HostRoots& roots) { return InspectCpus(roots).usable; }

int64_t ResidentBytes(const HostRoots& roots) {
  // statm: size resident shared text lib data dt, in pages.
  std::optional<std::string> text = ReadFile(roots.proc + "/self/statm");
  if (!text) return 0;
  std::vector<std::string> fields = absl::StrSplit(*text, ' ', absl::SkipEmpty());
  int64_t pages = 0;
  if (fields.size() < 2 || !absl::SimpleAtoi(fields[1], &pages) || pages < 0) return 0;
  return pages * static_cast<int64_t>(::sysconf(_SC_PAGESIZE));
}

std::string DescribeMemory(const MemoryReport& r) {
  std::string out = absl::StrCat("memory: ", Mib(r.available), " available (");
  if (r.cgroup_version > 0) {
    absl::StrAppend(&out, "cgroup v", r.cgroup_version, " limit ", Mib(r.cgroup_limit), ", usage ",
                    Mib(r.cgroup_usage), "; ");
  }
  absl::StrAppend(&out, "MemAvailable ",
                  r.mem_available >= 0 ? Mib(r.mem_available) : std::string("unreadable"), ")");
  return out;
}

std::string DescribeCpus(const CpuReport& r) {
  std::string out =
      absl::StrCat("cpus: ", r.usable, " usable (affinity ",
                   r.affinity_cpus > 0 ? absl::StrCat(r.affinity_cpus) : std::string("unknown"));
  if (r.quota_cpus > 0) {
    absl::StrAppend(&out, ", cgroup v", r.cgroup_version, " quota ",
                    absl::StrFormat("%.2f", r.quota_cpus));
  }
  return out + ")";
}

}  // namespace hearth::common
