// What this process may use of the host: memory it can still allocate and CPUs it may run on,
// with container limits applied (cgroup v1 and v2), so automatic sizing inside a container sizes
// for the container and not for the machine around it.
//
//   memory: min(MemAvailable of /proc/meminfo,
//               for each cgroup from the process's own up to its mount's root with a limit:
//                 limit - (usage - inactive file pages))
//   CPUs:   min(CPUs in the affinity mask (Cpus_allowed_list of /proc/self/status),
//               ceil(quota / period) of the tightest cgroup CPU quota on the same path)
//
// The cgroup of the process comes from /proc/self/cgroup and the hierarchy's mount point (and
// the mount's root, which differs from "/" in containers without a cgroup namespace) from
// /proc/self/mountinfo. Inactive file pages are subtracted from usage because the kernel
// reclaims them before it OOM-kills (the "working set" of docker stats and the kubelet).
//
// Every path is read through `HostRoots`, so tests run the same code on fake trees. Missing or
// unreadable files mean "no limit from this source", never an error: on a machine without
// cgroups the answers are MemAvailable and the affinity mask.
//
// Thread-safety: free functions reading the filesystem; no shared state.
#pragma once

#include <cstdint>
#include <string>

namespace hearth::common {

// Where the files are. `proc` replaces "/proc"; `root` is prefixed to the mount points found
// in mountinfo (e.g. "/sys/fs/cgroup/memory"). Defaults: the real system.
struct HostRoots {
  std::string proc = "/proc";
  std::string root;
};

struct MemoryReport {
  int64_t mem_available = -1;  // MemAvailable of /proc/meminfo in bytes; -1: unreadable
  int64_t cgroup_limit = -1;   // the limit of the cgroup that bounds `available`; -1: none
  int64_t cgroup_usage = -1;   // that cgroup's usage minus its inactive file pages; -1: none
  int cgroup_version = 0;      // 1 or 2 when a cgroup limit applies; 0 otherwise
  std::string cgroup_path;     // the bounding cgroup's directory (as read), or ""
  // min(mem_available, cgroup_limit - cgroup_usage), >= 0; 0 when nothing was readable.
  int64_t available = 0;
};

struct CpuReport {
  int affinity_cpus = 0;   // CPUs in the affinity mask; 0: unknown (hardware_concurrency used)
  double quota_cpus = 0;   // quota / period of the tightest cgroup quota; 0: no quota
  int cgroup_version = 0;  // 1 or 2 when a quota applies; 0 otherwise
  int usable = 1;          // min(affinity, ceil(quota_cpus)), at least 1
};

MemoryReport InspectMemory(const HostRoots& roots = {});
CpuReport InspectCpus(const HostRoots& roots = {});

// The shorthands callers size with: InspectMemory().available and InspectCpus().usable.
int64_t AvailableMemoryBytes(const HostRoots& roots = {});
int UsableCpuCount(const HostRoots& roots = {});

// This process's resident set now (VmRSS: anonymous and file pages in memory), from
// <proc>/self/statm; 0 when unreadable.
int64_t ResidentBytes(const HostRoots& roots = {});

// One line for start-up logs, e.g. "memory: 812 MiB available (cgroup v2 limit 1024 MiB,
// usage 212 MiB; MemAvailable 20934 MiB)".
std::string DescribeMemory(const MemoryReport& report);
// e.g. "cpus: 2 usable (affinity 8, cgroup v1 quota 1.5)".
std::string DescribeCpus(const CpuReport& report);

}  // namespace hearth::common
