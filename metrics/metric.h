// The three metric kinds are prometheus-cpp's (Debian's prometheus-cpp-dev, core library). Each
// object is one series (one label set) of a Family; callers get a pointer from
// Family::WithLabels once and keep it, so the hot path never looks up labels.
//
//   Counter::Increment(v)   v >= 0 (negative values are ignored); Value()
//   Gauge::Set / Increment / Decrement / Value
//   Histogram::Observe(v)   counts v in the first bucket whose bound is >= v (+Inf for larger
//                           values and NaN) and adds it to the sum
//
// Thread-safety: every method is thread-safe. Counter and Gauge are one atomic double
// (compare-and-swap); Histogram::Observe takes the series' mutex (uncontended on the engine
// thread: ~20-40 ns, see bench/metrics/RESULTS.md).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

namespace hearth::metrics {

using Counter = prometheus::Counter;
using Gauge = prometheus::Gauge;
using Histogram = prometheus::Histogram;

}  // namespace hearth::metrics
