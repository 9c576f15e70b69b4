#include "server/cli/bench/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hearth::server::cli {
namespace {

double Percentile(const std::vector<double>& sorted, double q) {
  const double pos = q / 100.0 * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      absl::StrAppend(&out, "\\", std::string(1, c));
    } else if (u < 0x20) {
      absl::StrAppend(&out, absl::StrFormat("\\u%04x", u));
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}

std::string Num(double v) { return std::isfinite(v) ? absl::StrFormat("%.9g", v) : "null"; }

std::string DistJson(const Distribution& d) {
  return absl::StrCat("{\"mean\": ", Num(d.mean), ", \"p50\": ", Num(d.p50),
                      ", \"p90\": ", Num(d.p90), ", \"p99\": ", Num(d.p99),
                      ", \"max\": ", Num(d.max), ", \"count\": ", d.count, "}");
}

std::string DistRow(const char* name, const Distribution& d) {
  return absl::StrFormat("  %-5s ms   mean %9.2f   p50 %9.2f   p90 %9.2f   p99 %9.2f\n", name,
                         d.mean * 1e3, d.p50 * 1e3, d.p90 * 1e3, d.p99 * 1e3);
}

}  // namespace

void RequestRecord::OnMessage(double t, int32_t num_tokens) {
  if (num_tokens <= 0) return;
  if (ttft < 0) {
    ttft = t;
    itl.insert(itl.end(), num_tokens - 1, 0.0);
  } else {
    const double gap = (t - last_) / num_tokens;
    itl.insert(itl.end(), num_tokens, gap);
  }
  last_ = t;
  output_tokens += num_tokens;
}

Distribution Summarize(std::vector<double> values) {
  Distribution d;
  d.count = static_cast<int64_t>(values.size());
  if (values.empty()) return d;
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (const double v : values) sum += v;
  d.mean = sum / static_cast<double>(values.size());
  d.p50 = Percentile(values, 50);
  d.p90 = Percentile(values, 90);
  d.p99 = Percentile(values, 99);
  d.max = values.back();
  return d;
}

BenchReport MakeReport(std::vector<RequestRecord> requests, double duration) {
  BenchReport r;
  r.num_requests = static_cast<int32_t>(requests.size());
  r.duration = duration;
  std::vector<double> ttft, itl, e2e, tpot;
  for (const RequestRecord& q : requests) {
    if (!q.ok) {
      ++r.failed;
      if (r.errors.size() < 5) r.errors.push_back(q.error);
      continue;
    }
    ++r.completed;
    r.prompt_tokens += q.prompt_tokens;
    r.output_tokens += q.output_tokens;
    if (q.ttft >= 0) ttft.push_back(q.ttft);
    e2e.push_back(q.e2e);
    itl.insert(itl.end(), q.itl.begin(), q.itl.end());
    if (q.output_tokens > 1) tpot.push_back((q.e2e - q.ttft) / (q.output_tokens - 1));
  }
  if (duration > 0) {
    r.requests_per_s = r.completed / duration;
    r.output_tokens_per_s = static_cast<double>(r.output_tokens) / duration;
    r.total_tokens_per_s = static_cast<double>(r.prompt_tokens + r.output_tokens) / duration;
  }
  r.ttft = Summarize(std::move(ttft));
  r.itl = Summarize(std::move(itl));
  r.e2e = Summarize(std::move(e2e));
  r.tpot = Summarize(std::move(tpot));
  r.requests = std::move(requests);
  return r;
}

std::string FormatReport(const BenchReport& r) {
  std::string out = absl::StrFormat(
      "mode %s, %s, %d requests: %d ok, %d failed in %.2f s\n"
      "  requests/s %.2f   output tokens/s %.1f   total tokens/s %.1f   (prompt %d, output %d "
      "tokens)\n",
      r.mode,
      r.concurrency > 0 ? absl::StrCat("closed loop at concurrency ", r.concurrency)
                        : absl::StrFormat("open loop at %.2f requests/s", r.rate),
      r.num_requests, r.completed, r.failed, r.duration, r.requests_per_s, r.output_tokens_per_s,
      r.total_tokens_per_s, r.prompt_tokens, r.output_tokens);
  absl::StrAppend(&out, DistRow("ttft", r.ttft), DistRow("itl", r.itl), DistRow("tpot", r.tpot),
                  DistRow("e2e", r.e2e));
  for (const std::string& e : r.errors) absl::StrAppend(&out, "  error: ", e, "\n");
  return out;
}

std::string ReportJson(const BenchReport& r) {
  std::string out = absl::StrCat(
      "{\n  \"mode\": ", JsonString(r.mode), ",\n  \"concurrency\": ", r.concurrency,
      ",\n  \"rate\": ", Num(r.rate), ",\n  \"num_requests\": ", r.num_requests,
      ",\n  \"completed\": ", r.completed, ",\n  \"failed\": ", r.failed,
      ",\n  \"duration_s\": ", Num(r.duration), ",\n  \"prompt_tokens\": ", r.prompt_tokens,
      ",\n  \"output_tokens\": ", r.output_tokens,
      ",\n  \"requests_per_s\": ", Num(r.requests_per_s),
      ",\n  \"output_tokens_per_s\": ", Num(r.output_tokens_per_s),
      ",\n  \"total_tokens_per_s\": ", Num(r.total_tokens_per_s),
      ",\n  \"ttft_s\": ", DistJson(r.ttft), ",\n  \"itl_s\": ", DistJson(r.itl),
      ",\n  \"tpot_s\": ", DistJson(r.tpot), ",\n  \"e2e_s\": ", DistJson(r.e2e),
      ",\n  \"errors\": [");
  for (size_t i = 0; i < r.errors.size(); ++i) {
    absl::StrAppend(&out, i ? ", " : "", JsonString(r.errors[i]));
  }
  absl::StrAppend(&out, "],\n  \"requests\": [");
  for (size_t i = 0; i < r.requests.size(); ++i) {
    const RequestRecord& q = r.requests[i];
    absl::StrAppend(&out, i ? ",\n    " : "\n    ", "{\"index\": ", q.index,
                    ", \"ok\": ", q.ok ? "true" : "false", ", \"error\": ", JsonString(q.error),
                    ", \"prompt_tokens\": ", q.prompt_tokens,
                    ", \"output_tokens\": ", q.output_tokens, ", \"arrival_s\": ", Num(q.arrival),
                    ", \"start_s\": ", Num(q.start), ", \"ttft_s\": ", Num(q.ttft),
                    ", \"e2e_s\": ", Num(q.e2e), ", \"itl_s\": [");
    for (size_t j = 0; j < q.itl.size(); ++j) absl::StrAppend(&out, j ? ", " : "", Num(q.itl[j]));
    absl::StrAppend(&out, "]}");
  }
  absl::StrAppend(&out, "\n  ]\n}\n");
  return out;
}

}  // namespace hearth::server::cli
