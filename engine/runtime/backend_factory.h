// Builds the backend a configuration asks for: resolves the stages (device_config.h), makes
// each stage's device operations (CPU: CpuOps over its own thread pool; CUDA: when the CUDA
// stage is built) and its model graph (the weights uploaded), and composes them into a
// SplitBackend.
//
// Ownership: the backend borrows the LoadedModel, which must outlive it.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/kv_dtype.h"
#include "engine/model/model.h"
#include "engine/runtime/device_config.h"
#include "engine/runtime/split_backend.h"

namespace hearth::engine {

struct BackendConfig {
  DeviceConfig device;
  std::optional<KvDtype> kv_dtype;  // unset: f32 under f32 CPU precision, else f16
  // The devices the stages may use; empty: AvailableDevices().
  std::vector<DeviceId> available;
};

// Errors name the config key and stage: a split that does not cover every layer exactly once,
// a device that does not exist, weights that do not fit a stage's memory budget (how much is
// missing), a weight type a device cannot compute with.
absl::StatusOr<std::unique_ptr<SplitBackend>> CreateBackend(const LoadedModel& model,
                                                            const BackendConfig& config);

}  // namespace hearth::engine
