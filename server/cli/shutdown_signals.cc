#include "server/cli/shutdown_signals.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>

namespace hearth::server {
namespace {

sigset_t ShutdownSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

ShutdownSignals::ShutdownSignals(std::string early_message)
    : early_message_(std::move(early_message)) {
  const sigset_t set = ShutdownSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  watcher_ = std::thread([this] { Watch(); });
}

ShutdownSignals::~ShutdownSignals() {
  {
    absl::MutexLock lock(&mu_);
    if (received_ != 0) {
      watcher_.join();
      return;
    }
    closing_ = true;
  }
  // Wake the watcher out of sigwait; it sees closing_ and returns.
  pthread_kill(watcher_.native_handle(), SIGTERM);
  watcher_.join();
}

void ShutdownSignals::Watch() {
  const sigset_t set = ShutdownSet();
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    absl::MutexLock lock(&mu_);
    if (closing_) return;
    if (sig == SIGHUP) {
      if (serving_) ++hangups_;
      continue;
    }
    if (!serving_) {
      std::fprintf(stderr, "%s (%s)\n", early_message_.c_str(),
                   sig == SIGTERM ? "SIGTERM" : "SIGINT");
      std::fflush(stderr);
      _exit(0);
    }
    received_ = sig;
    return;
  }
}

void ShutdownSignals::MarkServing() {
  absl::MutexLock lock(&mu_);
  serving_ = true;
}

int ShutdownSignals::Wait() {
  absl::MutexLock lock(&mu_);
  auto signalled = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return received_ != 0 || hangups_ > 0;
  };
  mu_.Await(absl::Condition(&signalled));
  if (hangups_ > 0 && received_ == 0) {
    --hangups_;
    return SIGHUP;
  }
  return received_;
}

}  // namespace hearth::server
