// What one benchmark request measured, and the summary over a run (`hearth bench-serve`).
//
// Per request, times are seconds from sending the request:
//   ttft  first message that carries a token;
//   e2e   the end of the stream (status received);
//   itl   inter-token latencies, output_tokens - 1 of them. A message that carries k tokens,
//         arriving g seconds after the previous message, counts as k gaps of g / k each (the
//         server merges deltas that queue behind a slow write; dividing keeps the sum of the
//         gaps equal to last token - first token, like vLLM's benchmark_serving). The first
//         message's extra tokens (k - 1 of them) count as gaps of 0.
//
// Thread-safety: plain values; RequestRecord is written by one thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hearth::server::cli {

struct RequestRecord {
  int32_t index = 0;
  bool ok = false;
  std::string error;  // "CODE: message" when !ok
  int32_t prompt_tokens = 0;
  int32_t output_tokens = 0;  // tokens received
  double arrival = 0;         // scheduled send (open loop), seconds from the run's start
  double start = 0;           // seconds from the run's start to sending
  double ttft = -1;
  double e2e = 0;
  std::vector<double> itl;

  // Records a message of `num_tokens` tokens arriving `t` seconds after the send.
  void OnMessage(double t, int32_t num_tokens);

 private:
  double last_ = 0;
};

// Mean and percentiles, each percentile linearly interpolated between order statistics
// (numpy.percentile's default). All zero for an empty sample.
struct Distribution {
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
  int64_t count = 0;
};
Distribution Summarize(std::vector<double> values);

struct BenchReport {
  std::string mode;         // "grpc" or "offline"
  int32_t concurrency = 0;  // closed loop; 0 for the open loop
  double rate = 0;          // open loop requests/s; 0 for the closed loop
  int32_t num_requests = 0;
  int32_t completed = 0;
  int32_t failed = 0;
  double duration = 0;  // first send to last stream end, seconds
  int64_t prompt_tokens = 0;
  int64_t output_tokens = 0;
  double requests_per_s = 0, output_tokens_per_s = 0, total_tokens_per_s = 0;
  Distribution ttft, itl, e2e, tpot;  // seconds; tpot = (e2e - ttft) / (output_tokens - 1)
  std::vector<std::string> errors;    // the first few
  std::vector<RequestRecord> requests;
};

// Fills the summary fields from `requests` (failed ones count only in `failed`).
BenchReport MakeReport(std::vector<RequestRecord> requests, double duration);

std::string FormatReport(const BenchReport& report);  // a human table
std::string ReportJson(const BenchReport& report);    // everything, per request included

}  // namespace hearth::server::cli
