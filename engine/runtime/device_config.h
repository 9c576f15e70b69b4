// Where a model runs: a typed device configuration, parsed once at the edge (server config,
// command-line flags), and resolved into stages by layer range.
//
//   device: auto | cpu | cuda | cuda:N     one device for every layer (auto: CUDA when a usable
//                                          GPU and the CUDA backend are present, else the CPU)
//   gpu_layers: N                          with a GPU: its first N layers there, the rest on the
//                                          CPU (llama.cpp's -ngl); -1: all
//   devices: [SPEC, ...]                   an explicit split, overriding the two above
//
// A SPEC is DEVICE[:FIRST-LAST][:threads=N][:memory=SIZE], e.g. "cpu:0-14:threads=1",
// "cuda:0:15-29:memory=20GiB". Layer ranges are inclusive; when every SPEC leaves them out the
// layers are divided evenly (by free memory on GPUs, later). The same device may appear in
// several stages (two CPU stages over their own thread pools; one GPU named twice).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/cpu/kernels/matmul.h"
#include "engine/cpu/kv_storage.h"
#include "engine/gemm_mode.h"
#include "engine/graph/model_graph.h"

namespace hearth::engine {

enum class DeviceKind { kCpu, kCuda };

struct DeviceId {
  DeviceKind kind = DeviceKind::kCpu;
  int32_t index = 0;             // GPU ordinal (0 for the CPU)
  std::string ToString() const;  // "cpu", "cuda:1"
  bool operator==(const DeviceId&) const = default;
};

// "cpu", "cuda" (= cuda:0), "cuda:N". InvalidArgument otherwise.
absl::StatusOr<DeviceId> ParseDeviceId(absl::string_view text);

struct StageSpec {
  DeviceId device;
  int32_t first_layer = -1;  // inclusive range; -1 / -1: assigned by ResolveStages
  int32_t last_layer = -1;
  int32_t threads = 0;       // CPU stages: 0 = DeviceConfig::threads
  int64_t memory_bytes = 0;  // budget for this stage's weights + K/V; 0: the device's free memory
  std::string ToString() const;  // the SPEC syntax above
  bool operator==(const StageSpec&) const = default;
};

// "SPEC,SPEC,..." (commas or whitespace between specs). InvalidArgument naming the bad part.
absl::StatusOr<std::vector<StageSpec>> ParseStageSpecs(absl::string_view text);
std::string FormatStageSpecs(const std::vector<StageSpec>& specs);

struct DeviceConfig {
  std::optional<DeviceId> device;  // unset: auto
  int32_t gpu_layers = -1;         // with a GPU device: layers on it (-1: all)
  std::vector<StageSpec> devices;  // explicit split (overrides device and gpu_layers)
  int32_t threads = 2;             // CPU compute threads per CPU stage (>= 1)
  // CPU matmul activation precision (q8: fast, f32: matches a float reference).
  cpu::ActPrecision cpu_precision = cpu::ActPrecision::kQ8;
  // How CUDA stages compute their matmuls (engine/gemm_mode.h).
  GemmMode cuda_gemm = GemmMode::kInvariant;

  // InvalidArgument naming the first bad field.
  absl::Status Validate() const;
};

// The devices this build can use: "cpu", then "cuda:N" per usable GPU (when compiled in).
std::vector<DeviceId> AvailableDevices();

// The stages for a model of `num_layers` layers: `config.devices` with ranges filled in, or
// one stage on `config.device` (auto resolved against `available`), or gpu_layers' GPU + CPU
// pair. InvalidArgument naming the key for a split that does not cover every layer exactly once
// in order, a layer past the model's last, or a device that is not in `available`.
absl::StatusOr<std::vector<StageSpec>> ResolveStages(const DeviceConfig& config, int32_t num_layers,
                                                     const std::vector<DeviceId>& available);

}  // namespace hearth::engine
