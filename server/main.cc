// The `hearth` binary: one executable, several subcommands.
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "common/host_resources.h"
#include "engine/backend_info.h"
#include "server/cli/bench_serve_command.h"
#include "server/cli/client_command.h"
#include "server/cli/generate_command.h"
#include "server/cli/health_command.h"
#include "server/cli/serve_command.h"
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
               "  health      exit 0 when the local server (serve's settings) is ready\n"
               "  version     print the version\n"
               "  devices     list compute backends and devices (CPU, CUDA GPUs)\n");
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
  if (command == "health") return hearth::server::RunHealth(argc - 1, argv + 1);
  if (command == "devices") {
    std::fputs(hearth::engine::DescribeBackends().c_str(), stdout);
    std::printf("%s\n%s\n", hearth::common::DescribeCpus(hearth::common::InspectCpus()).c_str(),
                hearth::common::DescribeMemory(hearth::common::InspectMemory()).c_str());
    return 0;
  }
  std::fprintf(stderr, "hearth: unknown command '%s'\n\n", argv[1]);
  return PrintUsage(stderr);
}
