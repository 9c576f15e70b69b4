#include "engine/backend_info.h"

#include <cstdint>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#ifdef HEARTH_HAVE_CUDA
#include "engine/cuda/device_query.h"
#endif

namespace hearth::engine {

bool CudaCompiledIn() {
#ifdef HEARTH_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

// GPUs the CUDA kernels run on: compute capability 8.0 or newer (mma.sync m16n8k16 with fp32
// accumulators; the build targets sm_80, sm_89 and sm_90). Queried once per process.
int UsableCudaDeviceCount() {
#ifdef HEARTH_HAVE_CUDA
  static const int count = [] {
    const cuda::CudaQueryResult q = cuda::QueryCudaDevices();
    int n = 0;
    if (q.error.empty()) {
      for (const auto& d : q.devices) n += d.compute_major >= 8 ? 1 : 0;
    }
    return n;
  }();
  return count;
#else
  return 0;
#endif
}

namespace {

// A /proc/meminfo field in GiB (0 when unreadable).
double MemInfoGiB(const std::string& field) {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  int64_t kib = 0;
  while (in >> key >> kib >> unit) {
    if (key == field + ":") return kib / 1048576.0;
  }
  return 0;
}

}  // namespace

std::string DescribeBackends() {
  std::string out = "devices a split can use (settings device, devices, gpu_layers):\n";
  absl::StrAppendFormat(&out, "  cpu      %u hardware threads, %.1f GiB RAM (%.1f GiB available)\n",
                        std::thread::hardware_concurrency(), MemInfoGiB("MemTotal"),
                        MemInfoGiB("MemAvailable"));
  if (UsableCudaDeviceCount() == 0) {
    absl::StrAppend(&out, "  (no GPU: ",
                    CudaCompiledIn() ? "no CUDA device of compute capability 8.0 or newer"
                                     : "built without CUDA",
                    ")\n");
  }
#ifdef HEARTH_HAVE_CUDA
  cuda::CudaQueryResult q = cuda::QueryCudaDevices();
  if (!q.error.empty()) {
    absl::StrAppend(&out, "cuda: compiled in, no usable device (", q.error, ")\n");
  } else {
    absl::StrAppend(&out, "cuda: ", q.devices.size(), " device(s), cuBLAS ",
                    q.cublas_ok ? "ok" : "unavailable", "\n");
    for (const auto& d : q.devices) {
      absl::StrAppendFormat(&out, "  [%d] %s sm_%d%d, %.1f GiB (%.1f GiB free), %d SMs\n", d.index,
                            d.name, d.compute_major, d.compute_minor,
                            d.total_memory_bytes / 1073741824.0, d.free_memory_bytes / 1073741824.0,
                            d.multiprocessors);
    }
  }
#else
  absl::StrAppend(&out, "cuda: not compiled in (built with HEARTH_CUDA=OFF or without nvcc)\n");
#endif
  return out;
}

}  // namespace hearth::engine
