#include "engine/testing/cpu_backend.h"

#include "common/status_macros.h"
#include "engine/cpu/cpu_ops.h"

namespace hearth::engine {

absl::StatusOr<std::unique_ptr<SplitBackend>> MakeCpuBackend(const LoadedModel& model, int threads,
                                                             const CpuBackendOptions& options) {
  BackendConfig config;
  config.device.device = DeviceId{DeviceKind::kCpu, 0};
  config.device.threads = threads;
  config.device.cpu_precision = options.precision;
  if (!options.devices.empty()) {
    ASSIGN_OR_RETURN(config.device.devices, ParseStageSpecs(options.devices));
  }
  config.kv_dtype = options.kv_dtype;
  config.available = {DeviceId{DeviceKind::kCpu, 0}};
  return CreateBackend(model, config);
}

KvDtype CpuKvDtype(const SplitBackend& backend) {
  return static_cast<const cpu::CpuOps&>(*backend.stage(0).ops).kv_dtype();
}

}  // namespace hearth::engine
