// ThreadSanitizer shim for Debian's prebuilt Abseil (not built with TSan).
//
// absl::Mutex and absl::Notification are implemented in libabsl_synchronization.so with raw
// atomics and futexes, which TSan cannot see in an uninstrumented library: without help it
// reports every ABSL_GUARDED_BY member as a race. scripts/sanitize.sh tsan links this file
// into every binary. It defines the Abseil functions below under their own (mangled) names, so
// they interpose the library's: Hearth's calls bind to them at link time, and the calls that
// Debian's gRPC makes (its gpr_mu / grpc_core::Mutex are absl::Mutex) bind to them at load
// time (the linker exports a definition that a linked library references). Each calls the
// library's function (dlsym RTLD_NEXT) and adds the happens-before edges the lock implies:
//
//   Lock / ReaderLock / LockWhen / TryLock (on success)   acquire(mu) after
//   Unlock / ReaderUnlock                                 release(mu) before
//   Await / AwaitWithTimeout / AwaitWithDeadline          release(mu) before, acquire(mu) after
//   CondVar::Wait / WaitWithTimeout / WaitWithDeadline    release(mu) before, acquire(mu) after
//
// A Condition is evaluated with the mutex held, inside Abseil, by the waiting thread or by the
// one releasing the mutex: LockWhen / Await pass Abseil a wrapped condition that brackets each
// evaluation with acquire(mu) / release(mu), so what it reads is ordered like a critical section.
//   Notification::Notify                                  release(n) before
//   Notification::WaitForNotification[WithTimeout]        acquire(n) after
//
// Interposing (not --wrap) matters for the server: gRPC hands a call from one of its threads to
// another under its absl mutexes, and the grpcpp code inlined into Hearth touches the call's
// objects on both sides; without these edges each hand-off is a reported race.
//
// gRPC's own completion path (a batch started on one thread, its completion run on another)
// goes through lock-free queues in libgrpc, which TSan cannot see either. The batch's tag is
// the edge, as gRPC documents it (what happens before grpc_call_start_batch happens before the
// tag's completion):
//   grpc_call_start_batch                                 release(tag) before
//   grpc_completion_queue_next / _pluck (sync API)        acquire(tag) after
//   a callback tag's functor_run (callback API)           acquire(tag) first
// For the callback API, start_batch points the tag's functor_run (grpcpp's inline StaticRun, in
// this executable) at a trampoline that acquires and then runs the original.
//
// Memory accesses inside the uninstrumented libraries (gRPC, Abseil, protobuf) stay invisible
// to TSan; tsan.supp lists the reports that come from inside them alone.
#include <dlfcn.h>
#include <grpc/grpc.h>
#include <sanitizer/tsan_interface.h>

#include <atomic>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace {

// A condition whose every evaluation is a critical section of `mu` for TSan.
struct WrappedCondition {
  const absl::Condition* inner;
  absl::Mutex* mu;
  static bool Eval(WrappedCondition* w) {
    __tsan_acquire(w->mu);
    const bool met = w->inner->Eval();
    __tsan_release(w->mu);
    return met;
  }
  absl::Condition condition() { return absl::Condition(&WrappedCondition::Eval, this); }
};

}  // namespace

// The library's definition of `name` (the next one after this executable's), looked up once.
#define REAL(name)                                                 \
  ([] {                                                            \
    static auto* const real_function = RealFunction(&name, #name); \
    return real_function;                                          \
  }())

namespace {
template <typename Fn>
Fn* RealFunction(Fn*, const char* symbol) {
  void* real = dlsym(RTLD_NEXT, symbol);
  if (real == nullptr) __builtin_trap();  // the shim names a symbol the library lacks
  return reinterpret_cast<Fn*>(real);
}
}  // namespace

extern "C" {
// NOLINTBEGIN: the mangled C++ names of the functions interposed.
void _ZN4absl7debian35Mutex4LockEv(absl::Mutex* mu) {
  REAL(_ZN4absl7debian35Mutex4LockEv)(mu);
  __tsan_acquire(mu);
}
void _ZN4absl7debian35Mutex6UnlockEv(absl::Mutex* mu) {
  __tsan_release(mu);
  REAL(_ZN4absl7debian35Mutex6UnlockEv)(mu);
}
void _ZN4absl7debian35Mutex10ReaderLockEv(absl::Mutex* mu) {
  REAL(_ZN4absl7debian35Mutex10ReaderLockEv)(mu);
  __tsan_acquire(mu);
}
void _ZN4absl7debian35Mutex12ReaderUnlockEv(absl::Mutex* mu) {
  __tsan_release(mu);
  REAL(_ZN4absl7debian35Mutex12ReaderUnlockEv)(mu);
}
bool _ZN4absl7debian35Mutex7TryLockEv(absl::Mutex* mu) {
  const bool locked = REAL(_ZN4absl7debian35Mutex7TryLockEv)(mu);
  if (locked) __tsan_acquire(mu);
  return locked;
}
void _ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE(absl::Mutex* mu,
                                                       const absl::Condition& cond) {
  WrappedCondition w{&cond, mu};
  REAL(_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE)(mu, w.condition());
  __tsan_acquire(mu);
}
void _ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(absl::Mutex* mu, const absl::Condition& cond) {
  WrappedCondition w{&cond, mu};
  __tsan_release(mu);
  REAL(_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE)(mu, w.condition());
  __tsan_acquire(mu);
}
bool _ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    absl::Mutex* mu, const absl::Condition& cond, absl::Duration timeout) {
  WrappedCondition w{&cond, mu};
  __tsan_release(mu);
  const bool met = REAL(_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE)(
      mu, w.condition(), timeout);
  __tsan_acquire(mu);
  return met;
}
bool _ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE(
    absl::Mutex* mu, const absl::Condition& cond, absl::Time deadline) {
  WrappedCondition w{&cond, mu};
  __tsan_release(mu);
  const bool met = REAL(_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE)(
      mu, w.condition(), deadline);
  __tsan_acquire(mu);
  return met;
}
void _ZN4absl7debian37CondVar4WaitEPNS0_5MutexE(absl::CondVar* cv, absl::Mutex* mu) {
  __tsan_release(mu);
  REAL(_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE)(cv, mu);
  __tsan_acquire(mu);
}
bool _ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE(absl::CondVar* cv,
                                                                          absl::Mutex* mu,
                                                                          absl::Duration timeout) {
  __tsan_release(mu);
  const bool timed_out =
      REAL(_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE)(cv, mu, timeout);
  __tsan_acquire(mu);
  return timed_out;
}
bool _ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE(absl::CondVar* cv,
                                                                       absl::Mutex* mu,
                                                                       absl::Time deadline) {
  __tsan_release(mu);
  const bool timed_out =
      REAL(_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE)(cv, mu, deadline);
  __tsan_acquire(mu);
  return timed_out;
}
void _ZN4absl7debian312Notification6NotifyEv(absl::Notification* n) {
  __tsan_release(n);
  REAL(_ZN4absl7debian312Notification6NotifyEv)(n);
}
void _ZNK4absl7debian312Notification19WaitForNotificationEv(const absl::Notification* n) {
  REAL(_ZNK4absl7debian312Notification19WaitForNotificationEv)(n);
  __tsan_acquire(const_cast<absl::Notification*>(n));
}
bool _ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(
    const absl::Notification* n, absl::Duration timeout) {
  const bool notified = REAL(
      _ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE)(n, timeout);
  if (notified) __tsan_acquire(const_cast<absl::Notification*>(n));
  return notified;
}
// NOLINTEND
}  // extern "C"

// --- gRPC tags ------------------------------------------------------------------------------

extern char __executable_start;  // this executable's text, from the linker
extern char etext;

namespace {

using FunctorRun = void (*)(grpc_completion_queue_functor*, int);
constexpr int kFunctorKinds = 8;  // grpcpp has two (CallbackWithSuccessTag, WithStatusTag)
// The originals, learned as start_batch meets them; set once, read by the trampolines. Relaxed:
// these atomics must add no happens-before edge of their own.
std::atomic<FunctorRun> original_run[kFunctorKinds];

template <int kKind>
void TracedRun(grpc_completion_queue_functor* functor, int ok) {
  __tsan_acquire(functor);
  original_run[kKind].load(std::memory_order_relaxed)(functor, ok);
}

constexpr FunctorRun kTracedRun[kFunctorKinds] = {&TracedRun<0>, &TracedRun<1>, &TracedRun<2>,
                                                  &TracedRun<3>, &TracedRun<4>, &TracedRun<5>,
                                                  &TracedRun<6>, &TracedRun<7>};

// A callback tag is a grpc_completion_queue_functor whose functor_run is code in this executable;
// any other tag (a sync call's CallOpSet starts with its vtable pointer, outside the text) is
// left alone.
void TraceCompletion(void* tag) {
  auto* functor = static_cast<grpc_completion_queue_functor*>(tag);
  const FunctorRun run = functor->functor_run;
  const auto* code = reinterpret_cast<const char*>(run);
  if (code < &__executable_start || code >= &etext) return;
  for (int kind = 0; kind < kFunctorKinds; ++kind) {
    if (run == kTracedRun[kind]) return;  // already traced
    FunctorRun expected = nullptr;
    if (original_run[kind].compare_exchange_strong(expected, run, std::memory_order_relaxed) ||
        expected == run) {
      functor->functor_run = kTracedRun[kind];
      return;
    }
  }
  __builtin_trap();  // more functor kinds than kFunctorKinds
}

}  // namespace

extern "C" {

grpc_call_error grpc_call_start_batch(grpc_call* call, const grpc_op* ops, size_t nops, void* tag,
                                      void* reserved) {
  if (tag != nullptr) {
    TraceCompletion(tag);
    __tsan_release(tag);
  }
  return REAL(grpc_call_start_batch)(call, ops, nops, tag, reserved);
}

grpc_event grpc_completion_queue_next(grpc_completion_queue* cq, gpr_timespec deadline,
                                      void* reserved) {
  const grpc_event event = REAL(grpc_completion_queue_next)(cq, deadline, reserved);
  if (event.type == GRPC_OP_COMPLETE && event.tag != nullptr) __tsan_acquire(event.tag);
  return event;
}

grpc_event grpc_completion_queue_pluck(grpc_completion_queue* cq, void* tag, gpr_timespec deadline,
                                       void* reserved) {
  const grpc_event event = REAL(grpc_completion_queue_pluck)(cq, tag, deadline, reserved);
  if (event.type == GRPC_OP_COMPLETE && event.tag != nullptr) __tsan_acquire(event.tag);
  return event;
}

}  // extern "C"
