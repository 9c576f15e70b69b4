// Device configuration: the SPEC syntax, and how device / gpu_layers / devices resolve into
// stages against the devices a host has.
#include "engine/runtime/device_config.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hearth::engine {
namespace {

using ::testing::HasSubstr;

const DeviceId kCpu{DeviceKind::kCpu, 0};
const DeviceId kGpu0{DeviceKind::kCuda, 0};
const DeviceId kGpu1{DeviceKind::kCuda, 1};

TEST(DeviceConfigTest, ParsesDeviceIds) {
  EXPECT_EQ(*ParseDeviceId("cpu"), kCpu);
  EXPECT_EQ(*ParseDeviceId("CUDA"), kGpu0);
  EXPECT_EQ(*ParseDeviceId("cuda:1"), kGpu1);
  EXPECT_EQ(ParseDeviceId("cuda:1").value().ToString(), "cuda:1");
  for (const char* bad : {"", "tpu", "cuda:", "cuda:-1", "cuda:x", "cpu:0"}) {
    EXPECT_FALSE(ParseDeviceId(bad).ok()) << bad;
  }
}

TEST(DeviceConfigTest, ParsesAndFormatsStageSpecs) {
  auto specs = ParseStageSpecs("cpu:0-14:threads=1, cuda:1:15-29:memory=20GiB cuda:7");
  ASSERT_TRUE(specs.ok()) << specs.status();
  ASSERT_EQ(specs->size(), 3u);
  EXPECT_EQ((*specs)[0], (StageSpec{kCpu, 0, 14, 1, 0}));
  EXPECT_EQ((*specs)[1], (StageSpec{kGpu1, 15, 29, 0, int64_t{20} << 30}));
  EXPECT_EQ((*specs)[2], (StageSpec{DeviceId{DeviceKind::kCuda, 7}, -1, -1, 0, 0}));
  EXPECT_EQ(FormatStageSpecs(*specs), "cpu:0-14:threads=1,cuda:1:15-29:memory=20GiB,cuda:7");
  EXPECT_EQ(*ParseStageSpecs(FormatStageSpecs(*specs)), *specs);  // round trip
  EXPECT_TRUE(ParseStageSpecs("").value().empty());
  struct Bad {
    const char* text;
    const char* message;
  };
  for (const Bad& b : std::vector<Bad>{{"cpu:3-1", "not a layer range"},
                                       {"cpu:0-1:2-3", "not a layer range"},
                                       {"cuda:0:threads=2", "threads is for CPU stages"},
                                       {"cpu:memory=0", "memory must be a size"},
                                       {"cpu:x=1", "unknown option 'x'"}}) {
    auto r = ParseStageSpecs(b.text);
    ASSERT_FALSE(r.ok()) << b.text;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(b.message)) << b.text;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("devices"));
  }
}

TEST(DeviceConfigTest, ResolvesOneDeviceAutoAndGpuLayers) {
  DeviceConfig c;
  // auto: the first GPU when there is one, else the CPU.
  EXPECT_EQ(*ResolveStages(c, 30, {kCpu}), (std::vector<StageSpec>{{kCpu, 0, 29, 0, 0}}));
  EXPECT_EQ(*ResolveStages(c, 30, {kCpu, kGpu0}), (std::vector<StageSpec>{{kGpu0, 0, 29, 0, 0}}));
  // gpu_layers: the first N on the GPU, the rest on the CPU (0: all on the CPU; >= L: all GPU).
  c.device = kGpu1;
  c.gpu_layers = 20;
  EXPECT_EQ(*ResolveStages(c, 30, {kCpu, kGpu0, kGpu1}),
            (std::vector<StageSpec>{{kGpu1, 0, 19, 0, 0}, {kCpu, 20, 29, 0, 0}}));
  c.gpu_layers = 0;
  EXPECT_EQ(*ResolveStages(c, 30, {kCpu, kGpu0, kGpu1}),
            (std::vector<StageSpec>{{kCpu, 0, 29, 0, 0}}));
  c.gpu_layers = 30;
  EXPECT_EQ(*ResolveStages(c, 30, {kCpu, kGpu0, kGpu1}),
            (std::vector<StageSpec>{{kGpu1, 0, 29, 0, 0}}));
  // Errors name the key.
  auto missing = ResolveStages(c, 30, {kCpu});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("device: cuda:1 is not available on this host (available: cpu)"));
  DeviceConfig cpu_layers;
  cpu_layers.device = kCpu;
  cpu_layers.gpu_layers = 4;
  EXPECT_THAT(std::string(ResolveStages(cpu_layers, 30, {kCpu}).status().message()),
              HasSubstr("gpu_layers: needs a GPU device"));
}

TEST(DeviceConfigTest, ResolvesExplicitSplits) {
  DeviceConfig c;
  c.devices = *ParseStageSpecs("cpu,cpu,cpu");
  // Even split, earlier stages taking the remainder: 30 = 10 + 10 + 10, 31 = 11 + 10 + 10.
  EXPECT_EQ(
      *ResolveStages(c, 31, {kCpu}),
      (std::vector<StageSpec>{{kCpu, 0, 10, 0, 0}, {kCpu, 11, 20, 0, 0}, {kCpu, 21, 30, 0, 0}}));
  // One GPU named twice is a valid split (the test vehicle on a one-GPU host).
  c.devices = *ParseStageSpecs("cuda:0:0-9,cuda:0:10-29");
  EXPECT_TRUE(ResolveStages(c, 30, {kCpu, kGpu0}).ok());
  // The device key is ignored when devices is given.
  c.device = kCpu;
  EXPECT_TRUE(ResolveStages(c, 30, {kCpu, kGpu0}).ok());
}

}  // namespace
}  // namespace hearth::engine
