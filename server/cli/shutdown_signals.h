// SIGTERM / SIGINT (and SIGHUP) for `hearth serve`, handled from the first line of RunServe on.
//
//   ShutdownSignals signals;          // first thing: blocks the signals, starts the watcher
//   ... load the model, start serving ...
//   signals.MarkServing();
//   while ((sig = signals.Wait()) == SIGHUP) Reload();
//   ... drain and stop ...
//
// Before MarkServing() SIGTERM / SIGINT end the process at once with exit code 0 (after printing
// `early_message`): loading a large model can take minutes and must stay interruptible; a SIGHUP
// then is ignored. After it, Wait() returns each SIGHUP, then the first SIGTERM / SIGINT (after
// which it keeps returning that one).
//
// Thread-safety: construct on the main thread before any other thread starts (threads inherit
// the blocked mask, so only the watcher receives these signals); the methods are thread-safe.
#pragma once

#include <pthread.h>

#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace hearth::server {

class ShutdownSignals {
 public:
  // `early_message` is printed (with the signal's name) to stderr when a signal arrives
  // before MarkServing().
  explicit ShutdownSignals(std::string early_message);
  ~ShutdownSignals();  // stops the watcher
  ShutdownSignals(const ShutdownSignals&) = delete;
  ShutdownSignals& operator=(const ShutdownSignals&) = delete;

  void MarkServing();
  // Blocks until SIGHUP, SIGTERM or SIGINT arrives (after MarkServing) and returns it.
  int Wait();

 private:
  void Watch();

  const std::string early_message_;
  absl::Mutex mu_;
  bool serving_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  int received_ ABSL_GUARDED_BY(mu_) = 0;  // SIGTERM / SIGINT: the watcher has returned
  int hangups_ ABSL_GUARDED_BY(mu_) = 0;   // SIGHUPs not yet returned by Wait
  std::thread watcher_;
};

}  // namespace hearth::server
