#include "metrics/buckets.h"

namespace hearth::metrics {

std::vector<double> LinearBuckets(double start, double width, int count) {
  std::vector<double> bounds;
  for (int i = 0; i < count; ++i) bounds.push_back(start + width * i);
  return bounds;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> bounds;
  double bound = start;
  for (int i = 0; i < count; ++i, bound *= factor) bounds.push_back(bound);
  return bounds;
}

std::vector<double> OneTwoFiveBuckets(uint64_t max_value) {
  std::vector<double> bounds;
  for (uint64_t decade = 1;; decade *= 10) {
    for (uint64_t mantissa : {1, 2, 5}) {
      if (mantissa > max_value / decade) return bounds;  // mantissa * decade > max_value
      bounds.push_back(static_cast<double>(mantissa * decade));
    }
    if (decade > max_value / 10) return bounds;  // the next decade would overflow or exceed max
  }
}

std::vector<double> TimeToFirstTokenBuckets() {
  // Past 60 s: a request queued behind a long backlog (or a long prompt on a CPU) waits minutes.
  return {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,   0.25,  0.5,   0.75,  1.0,
          2.5,   5.0,   7.5,  10.0, 20.0, 40.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0};
}

std::vector<double> InterTokenLatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.05, 0.075, 0.1,
          0.15,  0.2,    0.3,   0.4,    0.5,  0.75,  1.0,  2.5,   5.0,  7.5,   10.0};
}

std::vector<double> RequestLatencyBuckets() {
  return {0.01, 0.025, 0.05, 0.1,  0.25, 0.5,   1.0,   2.5,   5.0,   10.0,   15.0,
          20.0, 30.0,  40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 3600.0};
}

}  // namespace hearth::metrics
