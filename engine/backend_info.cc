#include "engine/backend_info.h"

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

int UsableCudaDeviceCount() { return 0; }

std::string DescribeBackends() {
  std::string out =
      absl::StrCat("cpu: ", std::thread::hardware_concurrency(), " hardware threads\n");
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
