// ns per observation on the metrics hot path (prometheus-cpp series), with 1 and 2 threads
// hitting the same series. Baseline: one shared std::atomic<double> updated by CAS.
//   build-metrics/bench/metrics/metrics_bench
#include <atomic>

#include "benchmark/benchmark.h"
#include "metrics/buckets.h"
#include "metrics/registry.h"

namespace hearth::metrics {
namespace {

Registry& TheRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

Counter* TheCounter() {
  static Counter* counter =
      *(*TheRegistry().AddCounter("bench_total", "", {"k"}))->WithLabels({"a"});
  return counter;
}

Histogram* TheHistogram() {
  static Histogram* h =
      *(*TheRegistry().AddHistogram("bench_seconds", "", {"k"}, TimeToFirstTokenBuckets()))
           ->WithLabels({"a"});
  return h;
}

void BM_CounterInc(benchmark::State& state) {
  Counter* c = TheCounter();
  for (auto _ : state) c->Increment();
}
BENCHMARK(BM_CounterInc)->Threads(1)->Threads(2);

void BM_HistogramObserve(benchmark::State& state) {
  Histogram* h = TheHistogram();
  double v = 0.0001 * (state.thread_index() + 1);
  for (auto _ : state) {
    h->Observe(v);
    v = v < 50 ? v * 1.5 : 0.0001;  // walk across the buckets
  }
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2);

void BM_GaugeSet(benchmark::State& state) {
  static Gauge gauge;
  double v = 0;
  for (auto _ : state) gauge.Set(v += 1);
}
BENCHMARK(BM_GaugeSet)->Threads(1)->Threads(2);

void BM_BaselineSharedAtomicDouble(benchmark::State& state) {
  static std::atomic<double> value{0};
  for (auto _ : state) {
    double old = value.load(std::memory_order_relaxed);
    while (!value.compare_exchange_weak(old, old + 1.0, std::memory_order_relaxed)) {
    }
  }
}
BENCHMARK(BM_BaselineSharedAtomicDouble)->Threads(1)->Threads(2);

void BM_Render(benchmark::State& state) {
  TheCounter();
  TheHistogram();
  for (auto _ : state) benchmark::DoNotOptimize(TheRegistry().Render());
}
BENCHMARK(BM_Render);

}  // namespace
}  // namespace hearth::metrics

BENCHMARK_MAIN();
