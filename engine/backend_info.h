// What compute backends this build has and which devices they see.
#pragma once

#include <string>

namespace hearth::engine {

// True when this binary was built with the CUDA backend (HEARTH_CUDA found nvcc).
bool CudaCompiledIn();

// GPUs the forward pass can run on: 0 until the CUDA stage is built (engine/cuda has kernels
// only), then the CUDA devices this process sees.
int UsableCudaDeviceCount();

// A human-readable, multi-line description of the backends and visible devices.
// Safe to call on machines without a GPU or driver.
std::string DescribeBackends();

}  // namespace hearth::engine
