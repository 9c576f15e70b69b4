#include "server/grpc/health_service.h"

#include <optional>
#include <utility>

#include "server/grpc/status_mapping.h"

namespace hearth::server {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// One Watch call: writes the latest status whenever it changed since the last write.
// Lifetime: deletes itself in OnDone (after unregistering).
class HealthService::Watcher final : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  Watcher(HealthService* service, std::string name) : service_(service), name_(std::move(name)) {}

  // Called with the service's mu_ held (so the pointer is alive); never blocks.
  void Notify(ServingStatus status) {
    absl::MutexLock lock(&mu_);
    pending_ = status;
    PumpLocked();
  }
  void End() {
    absl::MutexLock lock(&mu_);
    ending_ = true;
    PumpLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) ending_ = true;
    PumpLocked();
  }
  void OnCancel() override { End(); }
  void OnDone() override {
    {
      absl::MutexLock lock(&service_->mu_);
      service_->watchers_.erase(this);
    }
    delete this;
  }

 private:
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || writing_) return;
    if (ending_) {
      finished_ = true;
      Finish(grpc::Status::OK);
      return;
    }
    if (!pending_.has_value() || (last_.has_value() && *last_ == *pending_)) return;
    last_ = pending_;
    response_.set_status(*pending_);
    writing_ = true;
    StartWrite(&response_);
  }

  HealthService* const service_;
  const std::string name_;
  absl::Mutex mu_;
  std::optional<ServingStatus> pending_ ABSL_GUARDED_BY(mu_);
  std::optional<ServingStatus> last_ ABSL_GUARDED_BY(mu_);
  HealthCheckResponse response_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;

  friend class HealthService;
};

HealthService::HealthService() = default;
HealthService::~HealthService() = default;

void HealthService::RequireKeys(const security::ApiKeys* keys, std::function<void()> on_refused) {
  keys_ = keys;
  on_refused_ = std::move(on_refused);
}

grpc::Status HealthService::CheckAuth(const grpc::CallbackServerContext* context) const {
  if (keys_ == nullptr || !keys_->required()) return grpc::Status::OK;
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  const absl::string_view header = it == metadata.end()
                                       ? absl::string_view()
                                       : absl::string_view(it->second.data(), it->second.size());
  absl::Status st = keys_->CheckAuthorization(header);
  if (!st.ok() && on_refused_) on_refused_();
  return ToGrpcStatus(st);
}

HealthService::ServingStatus HealthService::StatusLocked(const std::string& service) const {
  auto it = serving_.find(service);
  if (it == serving_.end()) return HealthCheckResponse::SERVICE_UNKNOWN;
  return it->second ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
}

void HealthService::SetStatus(const std::string& service, bool serving) {
  absl::MutexLock lock(&mu_);
  serving_[service] = serving;
  const ServingStatus status = StatusLocked(service);
  for (Watcher* w : watchers_) {
    if (w->name_ == service) w->Notify(status);
  }
}

void HealthService::Shutdown() {
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
  for (Watcher* w : watchers_) w->End();
}

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* context,
                                               const HealthCheckRequest* request,
                                               HealthCheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (grpc::Status st = CheckAuth(context); !st.ok()) {
    reactor->Finish(st);
    return reactor;
  }
  absl::MutexLock lock(&mu_);
  const ServingStatus status = StatusLocked(request->service());
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service"));
    return reactor;
  }
  response->set_status(status);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(
    grpc::CallbackServerContext* context, const HealthCheckRequest* request) {
  auto* watcher = new Watcher(this, request->service());
  if (grpc::Status st = CheckAuth(context); !st.ok()) {
    absl::MutexLock lock(&watcher->mu_);
    watcher->finished_ = true;
    watcher->Finish(st);
    return watcher;
  }
  absl::MutexLock lock(&mu_);
  watchers_.insert(watcher);
  if (shut_down_) {
    watcher->End();
  } else {
    watcher->Notify(StatusLocked(request->service()));
  }
  return watcher;
}

}  // namespace hearth::server
