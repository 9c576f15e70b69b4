#include "server/cli/serve_command.h"

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/host_resources.h"
#include "engine/constraint/tokenizer_vocabulary.h"
#include "engine/engine.h"
#include "engine/tokenizer/chat_template.h"
#include "server/cli/model_path.h"
#include "server/cli/serve_setup.h"
#include "server/cli/shutdown_signals.h"
#include "server/config/server_config.h"
#include "server/grpc/grpc_server.h"
#include "server/grpc/health_service.h"
#include "server/grpc/hearth_service.h"
#include "server/http/api_service.h"
#include "server/http/http_server.h"
#include "server/metrics/metrics_endpoint.h"
#include "server/models/model_source.h"
#include "server/request/served_model.h"
#include "server/security/api_keys.h"
#include "server/security/tls_files.h"
#include "server/version.h"

namespace hearth::server {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitStartFailed = 1;
constexpr int kExitBadConfig = 2;

LogLevel g_log_level = LogLevel::kInfo;

void Log(LogLevel level, const std::string& line) {
  if (level < g_log_level) return;
  std::FILE* out = level >= LogLevel::kWarning ? stderr : stdout;
  std::fprintf(out, "hearth serve: %s\n", line.c_str());
  std::fflush(out);
}

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "hearth serve: %s\n", message.c_str());
  return code;
}

void PrintHelp() {
  std::printf(
      "usage: hearth serve [--config FILE] [--KEY=VALUE ...]\n\n"
      "Serves the hearth.v1.Hearth gRPC API. Settings (defaults < YAML < env < flags); the\n"
      "YAML file is --config FILE, else $HEARTH_CONFIG when set:\n");
  for (const std::string& key : ConfigKeys()) {
    std::string flag = key;
    for (char& ch : flag) {
      if (ch == '_' || ch == '.') ch = '-';
    }
    std::printf("  %-26s --%-26s %s\n", key.c_str(), flag.c_str(), EnvVarName(key).c_str());
  }
}

// Where the model runs, how the KV cache was sized, and the RAM the process will reach.
void LogKvPlan(const engine::Engine& engine, const std::string& name,
               const engine::EngineConfig& engine_config, const std::string& model_load,
               int64_t model_file_bytes) {
  const engine::KvCachePlan& plan = engine.kv_plan();
  const engine::EngineStats stats = engine.Stats();
  Log(LogLevel::kInfo, absl::StrCat("model ", name, " on ", engine.backend_description()));
  for (size_t i = 0; i < plan.stages.size(); ++i) {
    const engine::StageKvPlan& s = plan.stages[i];
    Log(LogLevel::kInfo,
        absl::StrCat("stage ", i, ": ", s.device, " layers ", s.first_layer, "-", s.end_layer - 1,
                     ", K/V ", engine::HumanBytes(s.kv_bytes), " of ",
                     engine::HumanBytes(s.room_bytes), " available",
                     plan.stages.size() > 1 && static_cast<int>(i) == plan.limiting_stage
                         ? " (the smallest: it sets the capacity)"
                         : ""));
  }
  for (const std::string& note : plan.notes) Log(LogLevel::kInfo, note);
  Log(LogLevel::kInfo, absl::StrCat("context ", engine.max_model_len(), " tokens, KV cache ",
                                    stats.num_device_blocks, " blocks x ", stats.block_size, " = ",
                                    stats.kv_capacity_tokens(), " tokens (",
                                    engine::KvDtypeName(engine_config.kv_cache.ResolvedDtype(
                                        engine_config.device.cpu_precision)),
                                    "), ", stats.num_host_blocks, " swap blocks"));
  const bool copied = model_load != "mmap";
  Log(LogLevel::kInfo,
      absl::StrCat("host memory: up to ",
                   engine::HumanBytes(plan.host_resident_bytes + (copied ? model_file_bytes : 0)),
                   " resident once the KV cache and swap space are used (weights copy, K/V, swap",
                   copied ? ", the model file read into memory" : "; plus the mapped model file ",
                   copied ? "" : engine::HumanBytes(model_file_bytes), ")"));
}

}  // namespace

int RunServe(int argc, char** argv) {
  // Before any thread starts (threads inherit the blocked mask): SIGTERM / SIGINT stop a server
  // that is still starting at once, and drain one that serves; SIGHUP reloads api_keys_file.
  ShutdownSignals signals("hearth serve: stopped while starting");
  // A log written to a closed pipe must not kill the server (write() fails instead).
  ::signal(SIGPIPE, SIG_IGN);

  auto setup = LoadServeSetup(std::vector<std::string>(argv + 1, argv + argc));
  if (!setup.ok()) return Fail(kExitBadConfig, std::string(setup.status().message()));
  if (setup->args.help) {
    PrintHelp();
    return kExitOk;
  }
  ServerConfig& config = setup->loaded.config;
  g_log_level = config.log_level;
  if (config.model.empty()) config.model = DefaultModelPath();
  // A file, or a model of Ollama's store (sha256-checked here, before anything starts).
  auto source =
      ResolveModelSource(config.model, *engine::model_store::ParseVerifyMode(config.ollama_verify));
  if (!source.ok()) return Fail(kExitStartFailed, std::string(source.status().message()));
  if (config.served_model_name.empty()) config.served_model_name = source->default_name;
  for (const std::string& line : DescribeConfig(setup->loaded)) {
    Log(LogLevel::kInfo, "config: " + line);
  }
  for (const std::string& line : source->log_lines) Log(LogLevel::kInfo, line);
  // What automatic sizing sees (threads 0, kv_cache_bytes 0): container limits applied.
  Log(LogLevel::kInfo, common::DescribeCpus(common::InspectCpus()));
  Log(LogLevel::kInfo, common::DescribeMemory(common::InspectMemory()));

  auto tls =
      security::LoadTlsFiles(config.tls.cert_file, config.tls.key_file, config.tls.client_ca_file);
  if (!tls.ok()) return Fail(kExitBadConfig, std::string(tls.status().message()));
  auto keys = security::ApiKeys::Create(config.auth.api_keys, config.auth.api_keys_file);
  if (!keys.ok()) return Fail(kExitBadConfig, std::string(keys.status().message()));
  if ((*keys)->required()) {
    Log((*keys)->size() > 0 ? LogLevel::kInfo : LogLevel::kWarning,
        absl::StrCat("API keys required on every listener (", (*keys)->size(), " keys)"));
  }
  const char* const scheme = tls->enabled() ? "https" : "http";

  // Metrics first: /health answers (and /ready says "starting") while the model loads.
  std::unique_ptr<MetricsEndpoint> metrics;
  if (config.metrics.enabled) {
    MetricsAccess access{*tls, keys->get(), config.auth.protect_metrics,
                         config.auth.protect_health};
    auto endpoint = MetricsEndpoint::Start(config.metrics, config.served_model_name, access);
    if (!endpoint.ok()) {
      return Fail(absl::IsInvalidArgument(endpoint.status()) ? kExitBadConfig : kExitStartFailed,
                  std::string(endpoint.status().message()));
    }
    metrics = *std::move(endpoint);
  }

  const absl::Time load_start = absl::Now();
  auto model = engine::LoadedModel::Open(source->gguf_path, config.model_load == "mmap"
                                                                ? engine::GgufLoad::kMmap
                                                                : engine::GgufLoad::kCopy);
  if (!model.ok()) return Fail(kExitStartFailed, std::string(model.status().message()));
  engine::EngineConfig engine_config = config.ToEngineConfig();
  if (absl::Status st = engine_config.Validate(); !st.ok()) {
    return Fail(kExitBadConfig, std::string(st.message()));
  }
  auto engine = engine::Engine::Create(
      **model, engine_config, metrics ? metrics->serving().Hooks() : engine::EngineHooks{});
  if (!engine.ok()) {
    return Fail(absl::IsInvalidArgument(engine.status()) ? kExitBadConfig : kExitStartFailed,
                std::string(engine.status().message()));
  }
  const engine::tokenizer::Tokenizer& tok = (*engine)->tokenizer();
  Log(LogLevel::kInfo, absl::StrCat("model loaded (", config.model_load, ") in ",
                                    absl::FormatDuration(absl::Now() - load_start)));
  ServedModel served;
  served.name = config.served_model_name;
  served.tokenizer = &tok;
  served.max_model_len = (*engine)->max_model_len();
  served.min_priority = config.min_client_priority;
  served.chat_parse_special = config.parse_special_in_chat;
  // Structured output: one compiler (and compile cache) for the served model's vocabulary.
  constraint::ConstraintCompiler constraint_compiler(constraint::VocabularyFromTokenizer(tok));
  served.constraint_compiler = &constraint_compiler;
  const std::string bos = tok.bos_id() >= 0 ? tok.IdToPiece(tok.bos_id()) : "";
  const std::string eos = tok.eos_id() >= 0 ? tok.IdToPiece(tok.eos_id()) : "";
  ChatDefaults defaults = ChatDefaultsFor(*source, bos, eos);
  for (const std::string& line : defaults.log_lines) Log(LogLevel::kInfo, line);
  served.default_system = std::move(defaults.default_system);
  served.default_sampling = ToSamplingSpec(defaults.default_sampling);
  auto chat = defaults.chat_template
                  ? absl::StatusOr<engine::tokenizer::ChatTemplate>(*defaults.chat_template)
                  : engine::tokenizer::ChatTemplate::Detect(tok.chat_template(), bos, eos);
  if (chat.ok()) {
    served.chat_template = *std::move(chat);
  } else {
    served.chat_template_error = std::string(chat.status().message());
    Log(LogLevel::kWarning, "chat requests disabled: " + served.chat_template_error);
  }
  const ModelFacts facts = DescribeModel(**model);
  const SingleModelResolver resolver(ServedEngine{served, facts, engine->get()});
  if (metrics) {
    const ServingInfo info{kVersion,
                           facts.backend,
                           facts.architecture,
                           facts.quant_type,
                           engine_config.scheduler.enable_prefix_caching,
                           engine::KvDtypeName(engine_config.kv_cache.ResolvedDtype(
                               engine_config.device.cpu_precision))};
    if (absl::Status st = metrics->serving().AttachEngine(engine->get(), info); !st.ok()) {
      metrics->Stop();
      return Fail(kExitStartFailed, std::string(st.message()));
    }
  }
  ServingMetrics* serving = metrics ? &metrics->serving() : nullptr;
  auto service = std::make_unique<HearthService>(**engine, std::move(served), facts);
  service->SetStreamBufferLimit(config.max_stream_buffer_bytes);
  service->SetApiKeys(keys->get(), [serving] {
    if (serving) serving->CountUnauthenticated(Protocol::kGrpc);
  });
  if (serving) {
    service->SetGenerateFailureObserver(
        [serving](grpc::StatusCode code) { serving->CountFailure(code, Protocol::kGrpc); });
    service->SetSampleObserver([serving](const engine::RequestOutput& out) {
      serving->ObserveFinished(out, Protocol::kGrpc);
    });
  }
  HealthService health;
  if (config.auth.protect_health) {
    health.RequireKeys(keys->get(), [serving] {
      if (serving) serving->CountUnauthenticated(Protocol::kGrpc);
    });
  }
  auto server = GrpcServer::Start(config.listen_address, service.get(), *tls, &health,
                                  config.grpc_reflection);
  if (!server.ok()) {
    if (metrics) metrics->Stop();  // its scrape callbacks read the engine
    return Fail(kExitStartFailed, std::string(server.status().message()));
  }
  // The OpenAI / Ollama HTTP API.
  http::ApiServiceOptions api_options;
  api_options.models = &resolver;
  api_options.keys = keys->get();
  api_options.protect_health = config.auth.protect_health;
  api_options.version = kVersion;
  api_options.max_stream_buffer_bytes = config.max_stream_buffer_bytes;
  if (serving) {
    api_options.on_sample_finished = [serving](const engine::RequestOutput& out, Protocol p) {
      serving->ObserveFinished(out, p);
    };
    api_options.on_failure = [serving](absl::StatusCode code, Protocol p) {
      serving->CountFailure(static_cast<grpc::StatusCode>(code), p);
    };
    api_options.on_unauthenticated = [serving](Protocol p) { serving->CountUnauthenticated(p); };
  }
  auto api = std::make_unique<http::ApiService>(std::move(api_options));
  std::unique_ptr<http::HttpServer> http_server;
  if (config.http.enabled) {
    http::HttpServerOptions o;
    o.name = "http";
    o.address = config.http.listen_address;
    o.port = config.http.port;
    o.max_connections = config.http.max_connections;
    o.max_body_bytes = static_cast<size_t>(config.http.max_body_bytes);
    o.max_header_bytes = static_cast<size_t>(config.http.max_header_bytes);
    o.request_timeout = absl::Seconds(config.http.request_timeout_seconds);
    o.num_threads = config.http.threads;
    o.tls = *tls;
    o.error_response = [](int status, const std::string& path, const std::string& message) {
      return http::ApiService::ServerError(status, path, message);
    };
    auto started = http::HttpServer::Start(
        std::move(o), [api = api.get()](http::HttpRequest& r) { return api->Handle(r); });
    if (!started.ok()) {
      (*server)->Shutdown(absl::ZeroDuration());
      if (metrics) metrics->Stop();
      return Fail(kExitStartFailed, std::string(started.status().message()));
    }
    http_server = *std::move(started);
  }
  LogKvPlan(**engine, config.served_model_name, engine_config, config.model_load,
            static_cast<int64_t>((*model)->file().size()));
  const std::string host = config.listen_address.substr(0, config.listen_address.rfind(':'));
  const char* const security_note = tls->mutual()    ? " (TLS, client certificates required)"
                                    : tls->enabled() ? " (TLS)"
                                                     : "";
  if (metrics) {
    metrics->SetPhase(ServingPhase::kServing);
    Log(LogLevel::kInfo, absl::StrCat("metrics on ", scheme, "://", config.metrics.listen_address,
                                      ":", metrics->port(), config.metrics.path,
                                      " (also /health, "
                                      "/ready)",
                                      security_note));
  }
  if (http_server) {
    Log(LogLevel::kInfo,
        absl::StrCat("http API on ", scheme, "://", config.http.listen_address, ":",
                     http_server->port(), " (OpenAI /v1, Ollama /api)", security_note));
  }
  Log(LogLevel::kInfo,
      absl::StrCat("gRPC listening on ", host, ":", (*server)->port(), security_note));

  signals.MarkServing();

  int signal_number = 0;
  while (true) {
    signal_number = signals.Wait();
    if (signal_number != SIGHUP) break;
    if (absl::Status st = (*keys)->Reload(); !st.ok()) {
      Log(LogLevel::kWarning,
          absl::StrCat("SIGHUP: keeping the API keys in force: ", st.message()));
    } else {
      Log(LogLevel::kInfo, absl::StrCat("SIGHUP: API keys reloaded (", (*keys)->size(), " keys)"));
    }
  }
  const absl::Duration grace = absl::Seconds(config.shutdown_grace_period_seconds);
  (*server)->SetServing(false);
  if (metrics) metrics->SetPhase(ServingPhase::kDraining);
  service->StartDraining();
  api->StartDraining();
  auto in_flight = [&] { return service->active_streams() + api->active_streams(); };
  Log(LogLevel::kInfo,
      absl::StrCat("received ", signal_number == SIGTERM ? "SIGTERM" : "SIGINT", ": draining ",
                   in_flight(), " streams (grace period ", absl::FormatDuration(grace), ")"));
  const absl::Time deadline = absl::Now() + grace;
  const bool idle = service->WaitIdle(grace) && api->WaitIdle(deadline - absl::Now());
  if (!idle) {
    Log(LogLevel::kWarning, absl::StrCat("grace period over: aborting ", in_flight(), " streams"));
    service->AbortAll();
    api->AbortAll();
    service->WaitIdle(absl::Seconds(5));
    api->WaitIdle(absl::Seconds(5));
  }
  http_server.reset();  // stops it and drops its connections, before the engine they abort into
  (*server)->Shutdown(absl::Seconds(1));
  if (metrics) metrics->Stop();  // before the engine its scrape callbacks read
  engine->reset();               // delivers the last final outputs; reactors release themselves
  server->reset();
  service.reset();
  api.reset();
  Log(LogLevel::kInfo, "stopped");
  return kExitOk;
}

}  // namespace hearth::server
