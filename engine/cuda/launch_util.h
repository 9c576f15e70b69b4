// Host helpers for kernel launches (nvcc-compiled launchers only).
#pragma once

#include <cuda_runtime.h>

#include <mutex>
#include <set>
#include <utility>

namespace hearth::engine::cuda {

// Raises `kernel`'s dynamic shared memory limit to `bytes` on the current device, once per
// (kernel, device): the attribute is per device, so a process driving two GPUs sets it on each.
template <typename Kernel>
cudaError_t EnsureDynamicSmem(Kernel kernel, int bytes) {
  static std::mutex mu;
  static std::set<std::pair<const void*, int>> done;
  int device = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  const std::pair<const void*, int> key{reinterpret_cast<const void*>(kernel), device};
  std::lock_guard<std::mutex> lock(mu);
  if (done.count(key) != 0) return cudaSuccess;
  err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (err == cudaSuccess) done.insert(key);
  return err;
}

}  // namespace hearth::engine::cuda
