#include "server/cli/bench/openai_target.h"

#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace hearth::server::cli {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

OpenAiTarget::OpenAiTarget(std::string base_url, std::string model, float temperature,
                           int64_t deadline_ms)
    : base_url_(std::move(base_url)),
      model_(std::move(model)),
      temperature_(temperature),
      deadline_ms_(deadline_ms) {}

void OpenAiTarget::Run(const WorkItem& item, RequestRecord& record) {
  Json body = {{"prompt", item.prompt},
               {"max_tokens", item.max_tokens},
               {"ignore_eos", true},
               {"temperature", temperature_},
               {"seed", item.index},
               {"stream", true},
               {"stream_options", {{"include_usage", true}, {"continuous_usage_stats", true}}}};
  if (!model_.empty()) body["model"] = model_;
  record.prompt_tokens = static_cast<int32_t>(item.prompt.size());

  httplib::Client client(base_url_);
  if (deadline_ms_ > 0) {
    client.set_read_timeout(std::chrono::milliseconds(deadline_ms_));
  } else {
    client.set_read_timeout(std::chrono::hours(1));
  }
  std::string pending;  // bytes of an incomplete event
  int64_t tokens_so_far = 0;
  bool done = false;
  std::string error;
  Clock::time_point sent;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body.dump();
  req.headers.emplace("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
    pending.append(data, len);
    size_t end;
    while ((end = pending.find("\n\n")) != std::string::npos) {
      const std::string event = pending.substr(0, end);
      pending.erase(0, end + 2);
      if (event.rfind("data: ", 0) != 0) continue;
      const std::string payload = event.substr(6);
      if (payload == "[DONE]") {
        done = true;
        continue;
      }
      const Json chunk = Json::parse(payload, nullptr, false);
      if (chunk.is_discarded()) continue;
      if (chunk.contains("error")) {
        error = chunk["error"].value("message", "error");
        continue;
      }
      if (chunk.contains("usage") && chunk["usage"].is_object()) {
        const int64_t total = chunk["usage"].value("completion_tokens", int64_t{0});
        if (total > tokens_so_far && !chunk["choices"].empty()) {
          record.OnMessage(Since(sent), static_cast<int32_t>(total - tokens_so_far));
          tokens_so_far = total;
        }
      }
    }
    return true;
  };
  sent = Clock::now();
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  const bool sent_ok = client.send(req, res, err);
  record.e2e = Since(sent);
  if (!sent_ok) {
    record.error = absl::StrCat("HTTP: ", httplib::to_string(err));
  } else if (res.status != 200) {
    record.error = absl::StrCat("HTTP ", res.status);
  } else if (!error.empty()) {
    record.error = error;
  } else if (!done) {
    record.error = "stream ended without [DONE]";
  }
  record.ok = record.error.empty();
}

}  // namespace hearth::server::cli
