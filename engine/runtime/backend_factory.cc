#include "engine/runtime/backend_factory.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/cpu/cpu_ops.h"
#ifdef HEARTH_HAVE_CUDA
#include "engine/cuda/cuda_ops.h"
#endif
#include "engine/runtime/kv_sizing.h"

namespace hearth::engine {
namespace {

absl::StatusOr<std::unique_ptr<DeviceOps>> CreateOps(const LoadedModel& model,
                                                     const StageSpec& spec,
                                                     const BackendConfig& config,
                                                     bool multi_stage) {
  const int32_t layers = spec.last_layer - spec.first_layer + 1;
  switch (spec.device.kind) {
    case DeviceKind::kCpu: {
      cpu::CpuOpsOptions options;
      options.num_threads = spec.threads > 0 ? spec.threads : config.device.threads;
      options.precision = config.device.cpu_precision;
      options.kv_dtype = config.kv_dtype;
      options.park_between_steps = multi_stage;
      ASSIGN_OR_RETURN(
          auto ops,
          cpu::CpuOps::Create(model.config(), model.weights().rope_freq_factors, layers, options));
      return std::unique_ptr<DeviceOps>(std::move(ops));
    }
    case DeviceKind::kCuda: {
#ifdef HEARTH_HAVE_CUDA
      cuda::CudaOpsOptions options;
      options.device = spec.device.index;
      options.gemm = config.device.cuda_gemm;
      options.kv_dtype = config.kv_dtype.value_or(
          config.device.cpu_precision == cpu::ActPrecision::kF32 ? KvDtype::kF32 : KvDtype::kF16);
      return cuda::CreateCudaOps(model.config(), model.weights().rope_freq_factors, layers,
                                 options);
#else
      break;
#endif
    }
  }
  return absl::UnimplementedError(
      absl::StrCat("device ", spec.device.ToString(), ": this build has no CUDA backend"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SplitBackend>> CreateBackend(const LoadedModel& model,
                                                            const BackendConfig& config) {
  const std::vector<DeviceId> available =
      config.available.empty() ? AvailableDevices() : config.available;
  ASSIGN_OR_RETURN(std::vector<StageSpec> specs,
                   ResolveStages(config.device, model.config().num_layers, available));
  std::vector<Stage> stages;
  for (size_t i = 0; i < specs.size(); ++i) {
    const StageSpec& spec = specs[i];
    auto in_stage = [&](const absl::Status& s) {
      return absl::Status(
          s.code(),
          absl::StrCat(
              specs.size() > 1 ? absl::StrCat("stage ", i, " (", spec.ToString(), "): ") : "",
              s.message()));
    };
    Stage stage;
    auto ops = CreateOps(model, spec, config, specs.size() > 1);
    if (!ops.ok()) return in_stage(ops.status());
    stage.ops = *std::move(ops);
    stage.host_memory = spec.device.kind == DeviceKind::kCpu;
    stage.budget_bytes = spec.memory_bytes;
    auto graph =
        CreateModelGraph(model, LayerRange{spec.first_layer, spec.last_layer + 1}, stage.ops.get());
    if (!graph.ok()) return in_stage(graph.status());
    stage.graph = *std::move(graph);
    const int64_t weights = stage.ops->Memory().weight_bytes;
    if (spec.memory_bytes > 0 && weights >= spec.memory_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "devices: stage ", i, " (", spec.ToString(), "): its weights take ", HumanBytes(weights),
          ", more than its memory budget of ", HumanBytes(spec.memory_bytes), ": ",
          HumanBytes(weights - spec.memory_bytes), " missing before any KV cache"));
    }
    stages.push_back(std::move(stage));
  }
  return SplitBackend::Create(model.config(), std::move(stages));
}

}  // namespace hearth::engine
