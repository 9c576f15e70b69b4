#include "server/cli/bench/targets.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "server/cli/bench/grpc_util.h"

namespace hearth::server::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

GrpcTarget::GrpcTarget(std::shared_ptr<grpc::Channel> channel, std::string model, float temperature,
                       int64_t deadline_ms)
    : channel_(std::move(channel)),
      stub_(v1::Hearth::NewStub(channel_)),
      model_(std::move(model)),
      temperature_(temperature),
      deadline_ms_(deadline_ms) {}

void GrpcTarget::Run(const WorkItem& item, RequestRecord& record) {
  v1::GenerateRequest req;
  req.set_model(model_);
  req.set_request_id(absl::StrCat("bench-", item.index));
  req.mutable_token_ids()->mutable_ids()->Add(item.prompt.begin(), item.prompt.end());
  v1::SamplingParams* p = req.mutable_sampling();
  p->set_max_tokens(item.max_tokens);
  p->set_ignore_eos(true);
  p->set_temperature(temperature_);
  p->set_seed(static_cast<uint64_t>(item.index));
  record.prompt_tokens = static_cast<int32_t>(item.prompt.size());

  grpc::ClientContext context;
  SetDeadlineMs(context, deadline_ms_);
  const Clock::time_point sent = Clock::now();
  auto reader = stub_->Generate(&context, req);
  v1::GenerateResponse msg;
  while (reader->Read(&msg)) record.OnMessage(Since(sent), msg.token_ids_size());
  const grpc::Status status = reader->Finish();
  record.e2e = Since(sent);
  record.ok = status.ok();
  if (!status.ok()) record.error = FormatStatus(status);
}

EngineTarget::EngineTarget(engine::Engine& engine, float temperature)
    : engine_(engine), temperature_(temperature) {}

void EngineTarget::Run(const WorkItem& item, RequestRecord& record) {
  engine::Request req;
  req.prompt_tokens = item.prompt;
  req.params.max_tokens = item.max_tokens;
  req.params.ignore_eos = true;
  req.params.temperature = temperature_;
  req.params.seed = static_cast<uint64_t>(item.index);
  record.prompt_tokens = static_cast<int32_t>(item.prompt.size());

  const Clock::time_point sent = Clock::now();
  auto stream = engine_.Submit(std::move(req));
  if (!stream.ok()) {
    record.e2e = Since(sent);
    record.error = stream.status().ToString();
    return;
  }
  engine::RequestOutput out;
  absl::Status status;
  while ((*stream)->Next(&out)) {
    record.OnMessage(Since(sent), static_cast<int32_t>(out.token_ids.size()));
    if (!out.status.ok()) status = out.status;
  }
  record.e2e = Since(sent);
  record.ok = status.ok();
  if (!status.ok()) record.error = status.ToString();
}

}  // namespace hearth::server::cli
