// CUDA device discovery. Plain C++ interface (no CUDA or Abseil types) so that nvcc and
// the host compiler both see the same declaration.
#pragma once

#include <string>
#include <vector>

namespace hearth::engine::cuda {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  int compute_major = 0;
  int compute_minor = 0;
  size_t total_memory_bytes = 0;
  size_t free_memory_bytes = 0;
  int multiprocessors = 0;
};

struct CudaQueryResult {
  std::vector<CudaDeviceInfo> devices;
  // Empty on success. Otherwise why no device could be listed (no driver, no device, ...).
  std::string error;
  // True when a cuBLAS handle could be created on device 0 (proves cuBLAS links and loads).
  bool cublas_ok = false;
};

// Lists the visible CUDA devices. Never aborts: a machine without a driver or GPU returns an
// error string instead.
CudaQueryResult QueryCudaDevices();

}  // namespace hearth::engine::cuda
