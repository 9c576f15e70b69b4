// ModelRegistry with a fake loader (no engine): one load for concurrent acquires, failing
// loads and retry, keep_alive expiry, LRU eviction order, leases pinning against eviction,
// waiting for room up to the deadline, and no deadlock when leases drop anywhere.
#include "server/registry/model_registry.h"

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace hearth::server {
namespace {

// Waits for `cond` with a generous timeout (never asserts a duration).
template <typename F>
bool Eventually(F cond) {
  const absl::Time end = absl::Now() + absl::Seconds(30);
  while (absl::Now() < end) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return cond();
}

class FakeModel : public LoadedModel {
 public:
  FakeModel(std::string name, int64_t bytes, std::atomic<int>* alive)
      : bytes_(bytes), alive_(alive) {
    served_.model.name = std::move(name);
    served_.model.max_model_len = 128;
    ++*alive_;
  }
  ~FakeModel() override {
    if (on_destroy) on_destroy();
    --*alive_;
  }
  std::function<void()> on_destroy;
  const ServedEngine& served() const override { return served_; }
  int64_t resident_bytes() const override { return bytes_; }

 private:
  ServedEngine served_;
  int64_t bytes_;
  std::atomic<int>* alive_;
};

// Counts loads and unloads per model; a load may be held until released, or fail.
struct FakeLoader {
  absl::Mutex mu;
  std::map<std::string, int> loads ABSL_GUARDED_BY(mu);
  std::vector<std::string> unloads ABSL_GUARDED_BY(mu);         // in order, "name:reason"
  std::map<std::string, std::string> fail ABSL_GUARDED_BY(mu);  // name -> error
  bool hold ABSL_GUARDED_BY(mu) = false;
  absl::Duration load_time = absl::ZeroDuration();  // a slow load (a big model, a loaded host)
  std::atomic<int> alive{0};
  std::vector<std::thread::id> destroyed_on ABSL_GUARDED_BY(mu);  // a thread per model

  ModelRegistry::Options Options() {
    ModelRegistry::Options o;
    o.loader =
        [this](const RegistryEntrySpec& spec) -> absl::StatusOr<std::unique_ptr<LoadedModel>> {
      absl::MutexLock lock(&mu);
      ++loads[spec.name];
      mu.Await(absl::Condition(
          +[](bool* h) { return !*h; }, &hold));
      absl::SleepFor(load_time);
      if (auto it = fail.find(spec.name); it != fail.end()) {
        return absl::InternalError(it->second);
      }
      auto model = std::make_unique<FakeModel>(spec.name, spec.estimated_bytes, &alive);
      model->on_destroy = [this] {
        absl::MutexLock lock(&mu);
        destroyed_on.push_back(std::this_thread::get_id());
      };
      return model;
    };
    o.observer.on_unloaded = [this](const std::string& name, UnloadReason reason) {
      absl::MutexLock lock(&mu);
      unloads.push_back(name + ":" + UnloadReasonName(reason));
    };
    return o;
  }
  int Loads(const std::string& name) {
    absl::MutexLock lock(&mu);
    return loads[name];
  }
  std::vector<std::string> Unloads() {
    absl::MutexLock lock(&mu);
    return unloads;
  }
};

RegistryEntrySpec Spec(std::string name, bool lazy,
                       absl::Duration keep_alive = absl::InfiniteDuration(), int64_t bytes = 100) {
  RegistryEntrySpec s;
  s.name = std::move(name);
  s.lazy = lazy;
  s.keep_alive = keep_alive;
  s.estimated_bytes = bytes;
  return s;
}

bool Loaded(const ModelRegistry& r, const std::string& name) {
  for (const ModelStatus& s : r.List()) {
    if (s.name == name) return s.loaded;
  }
  return false;
}

const absl::Time kNoDeadline = absl::InfiniteFuture();

TEST(ModelRegistryTest, ResolvesNamesAliasesAndTheDefault) {
  FakeLoader loader;
  auto a = Spec("a", false);
  a.aliases = {"fast", "telegram"};
  ModelRegistry r({a, Spec("b", false)}, loader.Options());
  ASSERT_TRUE(r.LoadEager().ok());
  EXPECT_EQ((*r.Acquire("", kNoDeadline))->model.name, "a");
  EXPECT_EQ((*r.Acquire("telegram", kNoDeadline))->model.name, "a");
  EXPECT_EQ((*r.Acquire("b", kNoDeadline))->model.name, "b");
  EXPECT_EQ(*r.CanonicalName("fast"), "a");
  auto missing = r.Acquire("c", kNoDeadline);
  ASSERT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "model 'c' is not served here (served: 'a', 'fast', 'telegram', 'b')");
  EXPECT_TRUE(r.EagerLoaded());
  EXPECT_EQ(loader.Loads("a"), 1);
}

TEST(ModelRegistryTest, ConcurrentAcquiresShareOneLoad) {
  FakeLoader loader;
  {
    absl::MutexLock lock(&loader.mu);
    loader.hold = true;
  }
  ModelRegistry r({Spec("eager", false), Spec("lazy", true)}, loader.Options());
  EXPECT_FALSE(Loaded(r, "lazy"));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto lease = r.Acquire("lazy", kNoDeadline);
      if (lease.ok() && (*lease)->model.name == "lazy") ++ok;
    });
  }
  ASSERT_TRUE(Eventually([&] { return loader.Loads("lazy") == 1; }));
  {
    absl::MutexLock lock(&loader.mu);
    loader.hold = false;
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(loader.Loads("lazy"), 1);
}

TEST(ModelRegistryTest, FailedLoadFailsItsWaitersAndTheNextRequestRetries) {
  FakeLoader loader;
  {
    absl::MutexLock lock(&loader.mu);
    loader.fail["lazy"] = "bad magic";
  }
  ModelRegistry r({Spec("eager", false), Spec("lazy", true)}, loader.Options());
  auto first = r.Acquire("lazy", kNoDeadline);
  ASSERT_EQ(first.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(first.status().message(), "model 'lazy' failed to load: bad magic");
  EXPECT_TRUE(r.Acquire("eager", kNoDeadline).ok());  // the other model keeps serving
  {
    absl::MutexLock lock(&loader.mu);
    loader.fail.clear();
  }
  auto second = r.Acquire("lazy", kNoDeadline);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(loader.Loads("lazy"), 2);
}

TEST(ModelRegistryTest, EagerLoadFailureKeepsTheLoadersCode) {
  FakeLoader loader;
  ModelRegistry::Options o = loader.Options();
  o.loader = [](const RegistryEntrySpec&) -> absl::StatusOr<std::unique_ptr<LoadedModel>> {
    return absl::InvalidArgumentError("devices: bad split");
  };
  ModelRegistry r({Spec("eager", false)}, std::move(o));
  absl::Status st = r.LoadEager();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "model 'eager' failed to load: devices: bad split");
}

TEST(ModelRegistryTest, KeepAliveUnloadsIdleLazyModelsOnly) {
  FakeLoader loader;
  ModelRegistry r({Spec("eager", false), Spec("lazy", true, absl::Milliseconds(50))},
                  loader.Options());
  ASSERT_TRUE(r.LoadEager().ok());
  {
    auto lease = r.Acquire("lazy", kNoDeadline);
    ASSERT_TRUE(lease.ok());
    absl::SleepFor(absl::Milliseconds(200));  // longer than keep_alive, but leased
    EXPECT_TRUE(Loaded(r, "lazy"));
  }
  ASSERT_TRUE(Eventually([&] { return !Loaded(r, "lazy"); }));
  EXPECT_EQ(loader.Unloads(), std::vector<std::string>{"lazy:idle"});
  EXPECT_TRUE(Loaded(r, "eager"));
  EXPECT_EQ(loader.alive.load(), 1);
}

TEST(ModelRegistryTest, UnloadWhenIdleWaitsForTheLease) {
  FakeLoader loader;
  ModelRegistry r({Spec("eager", false), Spec("lazy", true)}, loader.Options());
  ASSERT_TRUE(r.LoadEager().ok());
  auto lease = r.Acquire("lazy", kNoDeadline);
  ASSERT_TRUE(lease.ok());
  r.UnloadWhenIdle("lazy");
  r.UnloadWhenIdle("eager");  // eager models stay
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_TRUE(Loaded(r, "lazy"));
  lease->reset();
  ASSERT_TRUE(Eventually([&] { return !Loaded(r, "lazy"); }));
  EXPECT_EQ(loader.Unloads(), std::vector<std::string>{"lazy:requested"});
  EXPECT_TRUE(Loaded(r, "eager"));
}

TEST(ModelRegistryTest, EvictsLeastRecentlyUsedIdleModelFirst) {
  FakeLoader loader;
  ModelRegistry::Options o = loader.Options();
  o.max_loaded_models = 2;
  ModelRegistry r({Spec("a", true), Spec("b", true), Spec("c", true)}, std::move(o));
  ASSERT_TRUE(r.Acquire("a", kNoDeadline).ok());
  absl::SleepFor(absl::Milliseconds(5));
  ASSERT_TRUE(r.Acquire("b", kNoDeadline).ok());
  absl::SleepFor(absl::Milliseconds(5));
  ASSERT_TRUE(r.Acquire("a", kNoDeadline).ok());  // a used after b: b is the LRU
  ASSERT_TRUE(r.Acquire("c", kNoDeadline).ok());
  EXPECT_EQ(loader.Unloads(), std::vector<std::string>{"b:evicted"});
  EXPECT_TRUE(Loaded(r, "a"));
  EXPECT_TRUE(Loaded(r, "c"));
}

TEST(ModelRegistryTest, ByteBudgetEvictsUntilTheNewModelFits) {
  FakeLoader loader;
  ModelRegistry::Options o = loader.Options();
  o.budget_bytes = 250;
  ModelRegistry r(
      {Spec("a", true), Spec("b", true), Spec("big", true, absl::InfiniteDuration(), 200)},
      std::move(o));
  ASSERT_TRUE(r.Acquire("a", kNoDeadline).ok());
  ASSERT_TRUE(r.Acquire("b", kNoDeadline).ok());
  ASSERT_TRUE(r.Acquire("big", kNoDeadline).ok());  // 100 + 100 + 200 > 250: both go
  EXPECT_EQ(loader.Unloads(), (std::vector<std::string>{"a:evicted", "b:evicted"}));
}

TEST(ModelRegistryTest, LeasePinsAgainstEvictionUntilTheDeadline) {
  FakeLoader loader;
  ModelRegistry::Options o = loader.Options();
  o.max_loaded_models = 1;
  ModelRegistry r({Spec("a", true), Spec("b", true)}, std::move(o));
  auto a = r.Acquire("a", kNoDeadline);
  ASSERT_TRUE(a.ok());
  auto b = r.Acquire("b", absl::Now() + absl::Milliseconds(100));
  ASSERT_EQ(b.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(b.status().message(),
            "model 'b' could not be loaded in time: max_loaded_models (1) is reached and the "
            "loaded models are in use: 'a' (1 requests)");
  EXPECT_TRUE(Loaded(r, "a"));
  // A waiter gets the room once the lease drains.
  std::thread waiter([&] { EXPECT_TRUE(r.Acquire("b", kNoDeadline).ok()); });
  absl::SleepFor(absl::Milliseconds(30));
  a->reset();
  waiter.join();
  EXPECT_TRUE(Loaded(r, "b"));
  EXPECT_FALSE(Loaded(r, "a"));
}

TEST(ModelRegistryTest, DeadlineBehindAnotherLoadNamesIt) {
  FakeLoader loader;
  {
    absl::MutexLock lock(&loader.mu);
    loader.hold = true;
  }
  ModelRegistry r({Spec("a", true), Spec("b", true)}, loader.Options());
  std::thread first([&] { EXPECT_TRUE(r.Acquire("a", kNoDeadline).ok()); });
  while (loader.Loads("a") == 0) absl::SleepFor(absl::Milliseconds(1));
  auto b = r.Acquire("b", absl::Now() + absl::Milliseconds(50));
  ASSERT_EQ(b.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(b.status().message(), "model 'b' could not be loaded in time: 'a' was loading");
  {
    absl::MutexLock lock(&loader.mu);
    loader.hold = false;
  }
  first.join();
}

TEST(ModelRegistryTest, EagerModelsAreNeverEvicted) {
  FakeLoader loader;
  ModelRegistry::Options o = loader.Options();
  o.max_loaded_models = 1;
  ModelRegistry r({Spec("eager", false), Spec("lazy", true)}, std::move(o));
  ASSERT_TRUE(r.LoadEager().ok());
  auto lazy = r.Acquire("lazy", kNoDeadline);
  ASSERT_EQ(lazy.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(lazy.status().message().find("taken by the eager models"), std::string::npos);
  EXPECT_TRUE(Loaded(r, "eager"));
}

TEST(ModelRegistryTest, AlternatingSwapsUnderOneModelBudgetWithoutLeaks) {
  FakeLoader loader;
  ModelRegistry::Options o = loader.Options();
  o.max_loaded_models = 1;
  ModelRegistry r({Spec("a", true), Spec("b", true)}, std::move(o));
  // Four threads hammer both names; leases drop on other threads too (as the engine does).
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto lease = r.Acquire((i + t) % 2 == 0 ? "a" : "b", kNoDeadline);
        if (!lease.ok()) {
          ++failures;
          continue;
        }
        std::thread([l = *std::move(lease)]() mutable { l.reset(); }).join();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(loader.alive.load(), 1);
  int loaded = 0;
  for (const ModelStatus& s : r.List()) {
    loaded += s.loaded;
    EXPECT_EQ(s.leases, 0);
  }
  EXPECT_LE(loaded, 1);
}

TEST(ModelRegistryTest, DestructionUnloadsEverything) {
  FakeLoader loader;
  {
    ModelRegistry r({Spec("eager", false), Spec("lazy", true)}, loader.Options());
    ASSERT_TRUE(r.LoadEager().ok());
    ASSERT_TRUE(r.Acquire("lazy", kNoDeadline).ok());
    EXPECT_EQ(loader.alive.load(), 2);
  }
  EXPECT_EQ(loader.alive.load(), 0);
}

TEST(ModelRegistryTest, TwoModelsWantedAtOnceWithOneSlotBothGetServed) {
  // max_loaded_models 1 and requests for both models waiting at once: a model loaded for its
  // waiters must not be evicted for the other before they take their leases. With slow loads
  // the other model's waiters always queue it again during the load; without that rule the
  // two evicted each other on every load until the deadlines (ASan, a loaded host).
  FakeLoader loader;
  loader.load_time = absl::Milliseconds(30);
  ModelRegistry::Options o = loader.Options();
  o.max_loaded_models = 1;
  ModelRegistry r({Spec("a", true), Spec("b", true)}, std::move(o));
  for (int round = 0; round < 5; ++round) {
    std::vector<std::thread> threads;
    std::atomic<int> served{0};
    {
      absl::MutexLock lock(&loader.mu);
      loader.hold = true;  // the first load waits until both models are wanted
    }
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        auto lease = r.Acquire(t % 2 == 0 ? "a" : "b", absl::Now() + absl::Seconds(20));
        if (lease.ok()) {
          ++served;
          absl::SleepFor(absl::Milliseconds(1));
        } else {
          ADD_FAILURE() << lease.status();
        }
      });
    }
    absl::SleepFor(absl::Milliseconds(100));  // every thread is waiting (not a bound)
    {
      absl::MutexLock lock(&loader.mu);
      loader.hold = false;
    }
    for (auto& t : threads) t.join();
    ASSERT_EQ(served.load(), 8) << "round " << round;
    // Each model loaded at most once per round: a model is evicted only when its waiters are
    // served.
    EXPECT_LE(loader.Loads("a") + loader.Loads("b"), 2 * (round + 1)) << "round " << round;
  }
}

TEST(ModelRegistryTest, DestructionWaitsForALeaseReleasedOnAnotherThread) {
  // A drained server's last lease drops on an engine thread just after the registry's
  // destruction began; the model must still be destroyed by the destroying thread (an engine
  // destroyed on its own thread would join itself).
  FakeLoader loader;
  std::thread releaser;
  {
    ModelRegistry r({Spec("eager", false)}, loader.Options());
    ASSERT_TRUE(r.LoadEager().ok());
    auto lease = r.Acquire("eager", kNoDeadline);
    ASSERT_TRUE(lease.ok());
    releaser = std::thread([l = *std::move(lease)]() mutable {
      absl::SleepFor(absl::Milliseconds(200));
      l.reset();
    });
  }
  releaser.join();
  EXPECT_EQ(loader.alive.load(), 0);
  absl::MutexLock lock(&loader.mu);
  ASSERT_EQ(loader.destroyed_on.size(), 1u);
  EXPECT_EQ(loader.destroyed_on[0], std::this_thread::get_id());
}

}  // namespace
}  // namespace hearth::server
