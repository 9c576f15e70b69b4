// `hearth bench-serve`: a load generator for a running `hearth serve` (gRPC), measuring what a
// client sees, in the manner of vLLM's benchmark_serving:
//
//   hearth bench-serve --address HOST:PORT --concurrency 32 --num_requests 128
//       --prompt_len 64 --output_len 128 [--json out.json]         closed loop
//   hearth bench-serve --rate 4 --num_requests 100 --seed 1 ...    open loop, Poisson arrivals
//   hearth bench-serve --offline ... -- [hearth serve flags]       the same workload run on the
//       engine in this process, with the engine settings `hearth serve` would use for those
//       flags (the baseline the service layer is compared with)
//
// Prompts are seeded random ordinary token ids sent as `token_ids`; requests set max_tokens to
// the drawn output length and ignore_eos, so every length is exact. Reports requests/s, output
// and total tokens/s, and mean / p50 / p90 / p99 of TTFT, inter-token latency, time per output
// token and end-to-end latency (definitions in bench/report.h); --json writes all of it, each
// request included. Exit codes: 0 all requests ok, 1 some failed or the setup failed, 2 a bad
// command line.
#pragma once

namespace hearth::server {

// argv[0] is "bench-serve". Returns the process exit code.
int RunBenchServe(int argc, char** argv);

}  // namespace hearth::server
