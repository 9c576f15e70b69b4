#include "server/registry/model_registry.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "engine/engine.h"
#include "engine/tokenizer/unicode.h"

namespace hearth::server {

const char* UnloadReasonName(UnloadReason reason) {
  switch (reason) {
    case UnloadReason::kIdle:
      return "idle";
    case UnloadReason::kEvicted:
      return "evicted";
    case UnloadReason::kRequested:
      return "requested";
    case UnloadReason::kShutdown:
      return "shutdown";
  }
  return "idle";
}

ModelRegistry::ModelRegistry(std::vector<RegistryEntrySpec> entries, Options options)
    : options_(std::move(options)) {
  for (RegistryEntrySpec& spec : entries) {
    auto e = std::make_unique<Entry>();
    e->spec = std::move(spec);
    by_name_[e->spec.name] = e.get();
    for (const std::string& alias : e->spec.aliases) by_name_[alias] = e.get();
    entries_.push_back(std::move(e));
  }
  manager_ = std::thread([this] { Run(); });
}

void ModelRegistry::Stop() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  work_.SignalAll();
}

ModelRegistry::~ModelRegistry() {
  Stop();
  {
    // Waiting Acquires return UNAVAILABLE; let them leave before the members go.
    absl::MutexLock lock(&mu_);
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return acquiring_ == 0; };
    mu_.Await(absl::Condition(&idle));
  }
  manager_.join();
  absl::MutexLock lock(&mu_);
  // A drained server may still hold leases for a moment: a request's output channel (and its
  // lease) lives until the engine drops the request's callback, on the engine's thread, after
  // the front end let go. Unloading now would leave that thread the last reference, and it
  // would destroy (join) its own engine. Wait for them, boundedly.
  auto no_leases = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return std::all_of(entries_.begin(), entries_.end(),
                       [](const auto& e) { return e->leases == 0; });
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&no_leases), kShutdownLeaseWait)) {
    std::fprintf(stderr, "model registry: leases still held after %s at shutdown\n",
                 absl::FormatDuration(kShutdownLeaseWait).c_str());
  }
  // Unload in reverse order of configuration.
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if ((*it)->state == State::kLoaded) Unload(it->get(), UnloadReason::kShutdown);
  }
}

ModelRegistry::Entry* ModelRegistry::Find(absl::string_view name) const {
  if (name.empty()) return entries_.front().get();
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

absl::Status ModelRegistry::NotFound(absl::string_view name) const {
  std::vector<std::string> names;
  for (const auto& e : entries_) {
    names.push_back(absl::StrCat("'", e->spec.name, "'"));
    for (const std::string& alias : e->spec.aliases) names.push_back(absl::StrCat("'", alias, "'"));
  }
  return absl::NotFoundError(
      absl::StrCat("model '", engine::tokenizer::SanitizeUtf8(std::string(name)),
                   "' is not served here (served: ", absl::StrJoin(names, ", "), ")"));
}

absl::StatusOr<std::string> ModelRegistry::CanonicalName(absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  Entry* e = Find(name);
  if (e == nullptr) return NotFound(name);
  return e->spec.name;
}

int64_t ModelRegistry::Bytes(const Entry& e) const {
  return e.model ? e.model->resident_bytes() : e.spec.estimated_bytes;
}

ModelLease ModelRegistry::MakeLease(Entry* e) const {
  ++e->leases;
  e->last_used = absl::Now();
  // The deleter keeps the model alive (a copy of the owner) and counts the lease down.
  std::shared_ptr<LoadedModel> owner = e->model;
  const ServedEngine* served = &owner->served();
  return ModelLease(served, [this, e, owner = std::move(owner)](const ServedEngine*) mutable {
    owner.reset();
    Release(e);
  });
}

void ModelRegistry::Release(Entry* e) const {
  absl::MutexLock lock(&mu_);
  --e->leases;
  e->last_used = absl::Now();
  work_.SignalAll();
}

absl::StatusOr<ModelLease> ModelRegistry::Acquire(absl::string_view name,
                                                  absl::Time deadline) const {
  deadline = std::min(deadline, absl::Now() + options_.max_wait);
  absl::MutexLock lock(&mu_);
  ++acquiring_;
  struct Leave {
    int32_t* n;
    ~Leave() { --*n; }
  } leave{&acquiring_};
  Entry* e = Find(name);
  if (e == nullptr) return NotFound(name);
  if (e->state == State::kLoaded) {
    e->unload_when_idle = false;
    return MakeLease(e);
  }
  if (stopping_) return absl::UnavailableError("server shutting down");
  if (e->state == State::kUnloaded) {
    e->state = State::kQueued;
    ++e->attempt;
    load_queue_.push_back(e);
    work_.SignalAll();
  }
  // Waits for this attempt (or the one after an unload in progress) to end.
  const uint64_t attempt = e->state == State::kUnloading ? e->attempt + 1 : e->attempt;
  ++e->waiters;
  while (true) {
    if (e->state == State::kLoaded) {
      --e->waiters;
      e->unload_when_idle = false;
      return MakeLease(e);
    }
    if (e->failed_attempt >= attempt) {
      --e->waiters;
      return e->last_error;
    }
    if (e->state == State::kUnloaded && !stopping_) {  // unloaded meanwhile: queue again
      e->state = State::kQueued;
      ++e->attempt;
      load_queue_.push_back(e);
      work_.SignalAll();
    }
    if (stopping_) {
      --e->waiters;
      return absl::UnavailableError("server shutting down");
    }
    if (absl::Now() >= deadline) {
      --e->waiters;
      work_.SignalAll();  // a queued load nobody waits for is dropped
      if (e->state == State::kLoading) {
        return absl::DeadlineExceededError(absl::StrCat(
            "deadline passed while model '", e->spec.name, "' was loading; retry later"));
      }
      Entry* unused = nullptr;
      absl::Status room = Room(*e, &unused);
      return absl::ResourceExhaustedError(absl::StrCat(
          "model '", e->spec.name,
          "' could not be loaded in time: ", room.ok() ? Ahead(*e) : std::string(room.message())));
    }
    work_.WaitWithDeadline(&mu_, deadline);
  }
}

absl::Status ModelRegistry::LoadEager() {
  for (const auto& e : entries_) {
    if (e->spec.lazy) continue;
    auto lease = Acquire(e->spec.name, absl::InfiniteFuture());
    if (!lease.ok()) {
      // Start-up reports the loader's own code (a bad setting is InvalidArgument: exit 2).
      absl::MutexLock lock(&mu_);
      const absl::StatusCode code =
          e->last_cause.ok() ? lease.status().code() : e->last_cause.code();
      return absl::Status(code, lease.status().message());
    }
  }
  return absl::OkStatus();
}

bool ModelRegistry::EagerLoaded() const {
  absl::MutexLock lock(&mu_);
  for (const auto& e : entries_) {
    if (!e->spec.lazy && e->state != State::kLoaded) return false;
  }
  return true;
}

void ModelRegistry::UnloadWhenIdle(absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  Entry* e = Find(name);
  if (e == nullptr || !e->spec.lazy || e->state != State::kLoaded) return;
  e->unload_when_idle = true;
  work_.SignalAll();
}

bool ModelRegistry::NeedsLoad(absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  Entry* e = Find(name);
  return e != nullptr && e->state != State::kLoaded;
}

std::vector<ModelStatus> ModelRegistry::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<ModelStatus> out;
  for (const auto& e : entries_) {
    ModelStatus s;
    s.name = e->spec.name;
    s.aliases = e->spec.aliases;
    s.lazy = e->spec.lazy;
    s.loaded = e->state == State::kLoaded;
    s.leases = e->leases;
    s.facts = e->spec.facts;
    s.max_model_len = e->max_model_len;
    out.push_back(std::move(s));
  }
  return out;
}

void ModelRegistry::ForEachModel(
    const std::function<void(const std::string&, const ServedEngine*)>& fn) const {
  // Pinned, not locked: an engine's thread may release a lease (taking mu_) while it holds the
  // lock Stats() takes.
  std::vector<std::pair<Entry*, const ServedEngine*>> pinned;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& e : entries_) {
      const bool loaded = e->state == State::kLoaded && e->model;
      if (loaded) ++e->leases;
      pinned.emplace_back(e.get(), loaded ? &e->model->served() : nullptr);
    }
  }
  for (const auto& [e, served] : pinned) fn(e->spec.name, served);
  absl::MutexLock lock(&mu_);
  for (const auto& [e, served] : pinned) {
    if (served != nullptr) --e->leases;
  }
  work_.SignalAll();
}

absl::Status ModelRegistry::NeverFits(const Entry& e) const {
  int32_t pinned = 0;
  int64_t pinned_bytes = 0;
  for (const auto& other : entries_) {
    if (other.get() == &e || other->spec.lazy || other->state != State::kLoaded) continue;
    ++pinned;
    pinned_bytes += Bytes(*other);
  }
  if (options_.max_loaded_models > 0 && pinned + 1 > options_.max_loaded_models) {
    return absl::ResourceExhaustedError(
        absl::StrCat("max_loaded_models (", options_.max_loaded_models,
                     ") is taken by the eager models, which are never unloaded"));
  }
  if (options_.budget_bytes > 0 && pinned_bytes + Bytes(e) > options_.budget_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("model '", e.spec.name, "' needs about ", Bytes(e),
                     " bytes; models_memory_budget (", options_.budget_bytes, " bytes) leaves ",
                     options_.budget_bytes - pinned_bytes, " beside the eager models"));
  }
  return absl::OkStatus();
}

absl::Status ModelRegistry::Room(const Entry& e, Entry** evictable) const {
  *evictable = nullptr;
  int32_t loaded = 0;
  int64_t bytes = 0;
  std::vector<std::string> busy;
  for (const auto& other : entries_) {
    if (other.get() == &e || other->state != State::kLoaded) continue;
    ++loaded;
    bytes += Bytes(*other);
    if (!other->spec.lazy) continue;
    // A model just loaded for waiters that have not taken their leases yet is busy too: evicting
    // it for the next queued model would let two models wanted at once evict each other on
    // every load, neither ever served (seen with slow loads under ASan).
    if (const int32_t requests = other->leases + other->waiters; requests > 0) {
      busy.push_back(absl::StrCat("'", other->spec.name, "' (", requests, " requests)"));
    } else if (*evictable == nullptr || other->last_used < (*evictable)->last_used) {
      *evictable = other.get();
    }
  }
  const bool count_ok = options_.max_loaded_models <= 0 || loaded + 1 <= options_.max_loaded_models;
  const bool bytes_ok = options_.budget_bytes <= 0 || bytes + Bytes(e) <= options_.budget_bytes;
  if (count_ok && bytes_ok) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      count_ok ? absl::StrCat("models_memory_budget (", options_.budget_bytes, " bytes)")
               : absl::StrCat("max_loaded_models (", options_.max_loaded_models, ")"),
      " is reached and the loaded models are in use",
      busy.empty() ? "" : absl::StrCat(": ", absl::StrJoin(busy, ", "))));
}

std::string ModelRegistry::Ahead(const Entry& e) const {
  for (const auto& other : entries_) {
    if (other->state == State::kLoading)
      return absl::StrCat("'", other->spec.name, "' was loading");
    if (other->state == State::kUnloading) {
      return absl::StrCat("'", other->spec.name, "' was unloading");
    }
  }
  for (const Entry* queued : load_queue_) {
    if (queued == &e) break;
    return absl::StrCat("'", queued->spec.name, "' was queued to load first");
  }
  return "other models were loading first";
}

void ModelRegistry::Run() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    absl::Time next_wake = absl::InfiniteFuture();
    if (Step(&next_wake)) continue;
    work_.WaitWithDeadline(&mu_, next_wake);
  }
  // Fail what still waits to load.
  for (Entry* e : load_queue_) FailLoad(e, absl::UnavailableError("server shutting down"));
  load_queue_.clear();
}

bool ModelRegistry::Step(absl::Time* next_wake) {
  const absl::Time now = absl::Now();
  // 1. Idle lazy models past their keep_alive (or asked to go once idle).
  for (const auto& e : entries_) {
    if (e->state != State::kLoaded || !e->spec.lazy || e->leases > 0 || e->waiters > 0) continue;
    if (e->unload_when_idle) {
      Unload(e.get(), UnloadReason::kRequested);
      return true;
    }
    if (e->spec.keep_alive == absl::InfiniteDuration()) continue;
    const absl::Time expiry = e->last_used + e->spec.keep_alive;
    if (expiry <= now) {
      Unload(e.get(), UnloadReason::kIdle);
      return true;
    }
    *next_wake = std::min(*next_wake, expiry);
  }
  // 2. Loads nobody waits for any more are dropped.
  for (auto it = load_queue_.begin(); it != load_queue_.end();) {
    Entry* e = *it;
    if (e->waiters > 0) {
      ++it;
      continue;
    }
    e->state = State::kUnloaded;
    it = load_queue_.erase(it);
  }
  if (load_queue_.empty()) return false;
  // 3. The first queued load: make room, or wait for leases to drain.
  Entry* e = load_queue_.front();
  if (absl::Status never = NeverFits(*e); !never.ok()) {
    load_queue_.pop_front();
    FailLoad(e, std::move(never));
    return true;
  }
  Entry* victim = nullptr;
  if (!Room(*e, &victim).ok()) {
    if (victim == nullptr) return false;  // wait for a lease to be released
    Unload(victim, UnloadReason::kEvicted);
    return true;
  }
  load_queue_.pop_front();
  Load(e);
  return true;
}

void ModelRegistry::Load(Entry* e) {
  e->state = State::kLoading;
  const RegistryEntrySpec spec = e->spec;
  mu_.Unlock();
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<LoadedModel>> loaded = options_.loader(spec);
  const absl::Duration took = absl::Now() - start;
  if (loaded.ok() && options_.observer.on_loaded)
    options_.observer.on_loaded(spec.name, **loaded, took);
  mu_.Lock();
  if (!loaded.ok()) {
    e->last_cause = loaded.status();
    if (options_.observer.on_load_failed)
      options_.observer.on_load_failed(spec.name, loaded.status());
    FailLoad(e, absl::UnavailableError(absl::StrCat(
                    "model '", spec.name, "' failed to load: ", loaded.status().message())));
    return;
  }
  e->model = std::shared_ptr<LoadedModel>(std::move(*loaded));
  e->state = State::kLoaded;
  e->last_used = absl::Now();
  e->unload_when_idle = false;
  e->spec.estimated_bytes = e->model->resident_bytes();
  e->spec.facts = e->model->served().facts;
  e->max_model_len = e->model->served().model.max_model_len;
  work_.SignalAll();
}

void ModelRegistry::FailLoad(Entry* e, absl::Status error) {
  e->state = State::kUnloaded;
  e->failed_attempt = e->attempt;
  e->last_error = std::move(error);
  work_.SignalAll();
}

void ModelRegistry::Unload(Entry* e, UnloadReason reason) {
  e->state = State::kUnloading;
  std::shared_ptr<LoadedModel> model = std::move(e->model);
  mu_.Unlock();
  // No lease is left, so no lease deleter holds a copy: this destroys the engine (joins its
  // thread) outside the lock.
  model.reset();
  if (options_.observer.on_unloaded) options_.observer.on_unloaded(e->spec.name, reason);
  mu_.Lock();
  e->state = State::kUnloaded;
  e->unload_when_idle = false;
  work_.SignalAll();
}

}  // namespace hearth::server
