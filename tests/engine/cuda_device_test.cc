// Runs on GPU hosts; skips cleanly where the build has no CUDA or the machine no device.
#include <gtest/gtest.h>

#include "engine/backend_info.h"
#ifdef HEARTH_HAVE_CUDA
#include "engine/cuda/device_query.h"
#endif

namespace {

TEST(CudaDevice, DescribeBackendsNeverFails) {
  std::string text = hearth::engine::DescribeBackends();
  EXPECT_NE(text.find("  cpu "), std::string::npos) << text;
  EXPECT_NE(text.find("cuda:"), std::string::npos) << text;
}

TEST(CudaDevice, QueryFindsDeviceAndCublas) {
#ifndef HEARTH_HAVE_CUDA
  GTEST_SKIP() << "built without CUDA";
#else
  auto q = hearth::engine::cuda::QueryCudaDevices();
  if (!q.error.empty() || q.devices.empty()) GTEST_SKIP() << "no CUDA device: " << q.error;
  EXPECT_GE(q.devices[0].compute_major, 7);
  EXPECT_GT(q.devices[0].total_memory_bytes, 0u);
  EXPECT_TRUE(q.cublas_ok);
#endif
}

}  // namespace
