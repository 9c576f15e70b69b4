// ModelRegistry: the models one server serves, by name and alias, loaded at start-up (eager)
// or by their first request (lazy), unloaded when idle (keep_alive) and evicted least recently
// used when a load needs room (max_loaded_models, a byte budget for weights + KV).
//
//   ModelRegistry registry(std::move(entries), options);      // options.loader builds engines
//   RETURN_IF_ERROR(registry.LoadEager());                     // start-up: eager models
//   ASSIGN_OR_RETURN(ModelLease lease, registry.Acquire("fast", deadline));
//   lease->engine->Submit(...);   // the model stays loaded while any copy of `lease` lives
//
// Leases: a ModelLease is a shared_ptr to the loaded model's ServedEngine; while any copy lives
// the model is pinned (never unloaded or evicted). Front ends keep one in the request's output
// channel, so it lives until the engine delivered the request's last output. Dropping the last
// copy only counts down and wakes the manager thread: it never unloads on the dropping thread
// (which may be the engine's own), so a lease may be released anywhere, under any lock.
//
// One manager thread does every load and unload, one at a time:
//   - Acquire of an unloaded model queues one load and waits; concurrent Acquires of the same
//     model wait on that same load (one load, not N). A failed load fails every request waiting
//     on it (UNAVAILABLE, HTTP 503: "model 'x' failed to load: <cause>"); the next Acquire
//     retries.
//   - Room: before loading, idle lazy models (no lease, no request waiting to take one: a model
//     just loaded is kept for the requests that wanted it) are unloaded least recently used first
//     until the new one fits (loaded count < max_loaded_models, loaded bytes + its estimate <=
//     budget_bytes). When nothing idle is left to evict, the load waits for leases to drain;
//     a request whose deadline passes first fails with RESOURCE_EXHAUSTED naming the limit and
//     the busy models. A model that cannot fit even beside the eager (pinned) models alone fails
//     at once with RESOURCE_EXHAUSTED.
//   - keep_alive: a lazy model idle (no lease) for its keep_alive is unloaded; < 0 never.
//     UnloadWhenIdle() (Ollama's keep_alive: 0) unloads it as soon as it is idle.
//   - Eager models load in LoadEager() and are never unloaded or evicted.
//
// Acquire blocks the calling thread while the model loads or waits for room (gRPC and HTTP
// threads do; the engines keep running). Deadline: the request's own, else Options::max_wait.
//
// Thread-safety: every public method is thread-safe. Ownership: owns the loaded models; the
// destructor stops the manager thread, waits (up to kShutdownLeaseWait) for the leases still
// held (a drained server's last channels, released on engine threads) and unloads everything.
// REQUIRES: no lease outlives the registry (the server drains its streams before destroying
// it).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/request/served_model.h"

namespace hearth::server {

// A loaded model: what the front ends use, owning what it points at (engine, tokenizer, ...).
// Destroying it shuts its engine down.
class LoadedModel {
 public:
  virtual ~LoadedModel() = default;
  virtual const ServedEngine& served() const = 0;
  // Host + device bytes it holds (weights + KV + swap), for the budget.
  virtual int64_t resident_bytes() const = 0;
};

// One configured model.
struct RegistryEntrySpec {
  std::string name;
  std::vector<std::string> aliases;
  bool lazy = false;
  absl::Duration keep_alive = absl::InfiniteDuration();  // lazy models; InfiniteDuration: never
  int64_t estimated_bytes = 0;  // weights + KV before the first load (then the real figure)
  ModelFacts facts;             // for listings before the first load (file size, mtime)
};

// Why a model was unloaded (metrics, logs).
enum class UnloadReason { kIdle, kEvicted, kRequested, kShutdown };
const char* UnloadReasonName(UnloadReason reason);

// Notifications from the manager thread (metrics, logs); quick, thread-safe, must not call
// back into the registry.
struct RegistryObserver {
  std::function<void(const std::string& name, const LoadedModel& model, absl::Duration took)>
      on_loaded;
  std::function<void(const std::string& name, const absl::Status& error)> on_load_failed;
  std::function<void(const std::string& name, UnloadReason reason)> on_unloaded;
};

class ModelRegistry final : public ModelResolver {
 public:
  // How long the destructor waits for leases still held (see the header comment).
  static constexpr absl::Duration kShutdownLeaseWait = absl::Seconds(30);

  struct Options {
    // Builds one model; called on the manager thread. Its error becomes the requests'.
    std::function<absl::StatusOr<std::unique_ptr<LoadedModel>>(const RegistryEntrySpec&)> loader;
    int32_t max_loaded_models = 0;                // 0: no limit
    int64_t budget_bytes = 0;                     // 0: no limit
    absl::Duration max_wait = absl::Minutes(10);  // for requests without a deadline
    RegistryObserver observer;
  };

  // REQUIRES: entries non-empty with unique names and aliases (the config checks that);
  // options.loader set. entries[0] is the default model.
  ModelRegistry(std::vector<RegistryEntrySpec> entries, Options options);
  ~ModelRegistry() override;
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  // Server shutdown: requests waiting for a load or for room fail with UNAVAILABLE "server
  // shutting down" and no new load starts; loaded models keep serving until destruction.
  void Stop();

  // Loads every eager model (in order); the first failure is returned (the server then exits),
  // with the loader's status code.
  absl::Status LoadEager();

  // ModelResolver: "" = the default model. NotFound listing the served names; see above for
  // UNAVAILABLE / RESOURCE_EXHAUSTED / DEADLINE_EXCEEDED.
  absl::StatusOr<ModelLease> Acquire(absl::string_view name, absl::Time deadline) const override;
  bool NeedsLoad(absl::string_view name) const override;
  std::vector<ModelStatus> List() const override;
  // The configured name `name` resolves to (aliases and "" resolved); NotFound as Acquire.
  absl::StatusOr<std::string> CanonicalName(absl::string_view name) const override;
  // Unload `name` (lazy only) as soon as it has no lease (Ollama's keep_alive 0).
  void UnloadWhenIdle(absl::string_view name) const override;

  // Calls `fn` for every configured model with its ServedEngine (null when not loaded), pinned
  // (as by a lease) during the call, outside the registry's lock. `fn` must be quick (metrics).
  void ForEachModel(
      const std::function<void(const std::string& name, const ServedEngine* served)>& fn) const;
  // True while every eager model is loaded (/ready).
  bool EagerLoaded() const;

 private:
  enum class State { kUnloaded, kQueued, kLoading, kLoaded, kUnloading };
  struct Entry {
    RegistryEntrySpec spec;
    State state = State::kUnloaded;
    std::shared_ptr<LoadedModel> model;  // set while kLoaded (and while unloading)
    int32_t leases = 0;
    int32_t waiters = 0;   // Acquires waiting for this model's load
    uint64_t attempt = 0;  // load attempts started
    uint64_t failed_attempt = 0;
    absl::Status last_error;                      // of failed_attempt, as requests see it
    absl::Status last_cause;                      // the loader's own error of the last failed load
    absl::Time last_used = absl::InfinitePast();  // last lease released or taken
    bool unload_when_idle = false;
    int32_t max_model_len = 0;
  };

  Entry* Find(absl::string_view name) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status NotFound(absl::string_view name) const;
  ModelLease MakeLease(Entry* e) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Release(Entry* e) const;
  void Run();  // the manager thread
  // One unit of work, or false when there is nothing to do now. Releases mu_ while loading or
  // unloading. `next_wake`: when an idle model expires next.
  bool Step(absl::Time* next_wake) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Load(Entry* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Unload(Entry* e, UnloadReason reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailLoad(Entry* e, absl::Status error) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Why `e` cannot load now; OK when it fits. `evictable`: set to the LRU idle lazy model.
  absl::Status Room(const Entry& e, Entry** evictable) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status NeverFits(const Entry& e) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What the manager was doing instead of loading `e` (for a deadline's error message).
  std::string Ahead(const Entry& e) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t Bytes(const Entry& e) const;

  const Options options_;
  mutable absl::Mutex mu_;
  mutable absl::CondVar work_;                        // the manager: something changed
  std::vector<std::unique_ptr<Entry>> entries_;       // fixed after construction
  absl::flat_hash_map<std::string, Entry*> by_name_;  // names and aliases; fixed
  mutable std::deque<Entry*> load_queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  mutable int32_t acquiring_ ABSL_GUARDED_BY(mu_) = 0;  // Acquire calls inside the registry
  std::thread manager_;
};

}  // namespace hearth::server
