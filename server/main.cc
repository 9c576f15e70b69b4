// The `hearth` binary: one executable, several subcommands.
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "server/cli/bench_serve_command.h"
#include "server/cli/client_command.h"
#include "server/cli/devices_command.h"
#include "server/cli/generate_command.h"
#include "server/cli/health_command.h"
#include "server/cli/models_command.h"
#include "server/cli/quantize_command.h"
#include "server/cli/serve_command.h"
#include "server/cli/synth_model_command.h"
#include "server/version.h"

namespace {

int PrintUsage(FILE* out) {
  std::fprintf(out,
               "usage: hearth <command> [flags]\n"
               "\n"
               "commands:\n"
               "  serve       serve the gRPC API (--config FILE, --help for every setting)\n"
               "  generate    stream a completion or an interactive chat (--prompt, --chat)\n"
               "  client      call a running server (generate, tokenize, models, info, health)\n"
               "  bench-serve load-test a running server (closed or open loop, TTFT/ITL)\n"
               "  quantize    write a quantized copy of a GGUF model (--type q4_k, q6_k, ...)\n"
               "  synth-model write a random llama-shaped model (--preset llama3-8b, ...)\n"
               "  models      list the models of Ollama's local store (serve them by name)\n"
               "  health      exit 0 when the local server (serve's settings) is ready\n"
               "  version     print the version\n"
               "  devices     list compute backends and devices (CPU, CUDA GPUs); with\n"
               "              --model, the model's total and per-token parameters and bytes\n");
  return out == stderr ? 2 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return PrintUsage(stderr);
  std::string_view command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") return PrintUsage(stdout);
  if (command == "version" || command == "--version") {
    std::printf("hearth %s\n", hearth::server::kVersion);
    return 0;
  }
  if (command == "serve") return hearth::server::RunServe(argc - 1, argv + 1);
  if (command == "generate") return hearth::server::RunGenerate(argc - 1, argv + 1);
  if (command == "client") return hearth::server::RunClient(argc - 1, argv + 1);
  if (command == "bench-serve") return hearth::server::RunBenchServe(argc - 1, argv + 1);
  if (command == "quantize") return hearth::server::RunQuantize(argc - 1, argv + 1);
  if (command == "synth-model") return hearth::server::RunSynthModel(argc - 1, argv + 1);
  if (command == "models") return hearth::server::RunModels(argc - 1, argv + 1);
  if (command == "devices") return hearth::server::RunDevices(argc - 1, argv + 1);
  if (command == "health") return hearth::server::RunHealth(argc - 1, argv + 1);
  std::fprintf(stderr, "hearth: unknown command '%s'\n\n", argv[1]);
  return PrintUsage(stderr);
}
