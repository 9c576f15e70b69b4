#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "engine/cuda/device_query.h"

namespace hearth::engine::cuda {

CudaQueryResult QueryCudaDevices() {
  CudaQueryResult result;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    result.error = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(err);
    cudaGetLastError();  // Clear the sticky error so later calls start clean.
    return result;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    CudaDeviceInfo info;
    info.index = i;
    info.name = prop.name;
    info.compute_major = prop.major;
    info.compute_minor = prop.minor;
    info.total_memory_bytes = prop.totalGlobalMem;
    info.multiprocessors = prop.multiProcessorCount;
    if (cudaSetDevice(i) == cudaSuccess) {
      size_t free_bytes = 0, total_bytes = 0;
      if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
        info.free_memory_bytes = free_bytes;
      }
    }
    result.devices.push_back(info);
  }
  if (count > 0 && cudaSetDevice(0) == cudaSuccess) {
    cublasHandle_t handle = nullptr;
    if (cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS) {
      result.cublas_ok = true;
      cublasDestroy(handle);
    }
  }
  return result;
}

}  // namespace hearth::engine::cuda
