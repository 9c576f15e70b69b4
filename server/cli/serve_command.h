// `hearth serve`: load the model, start the engine and the gRPC server, serve until SIGTERM or
// SIGINT, then shut down gracefully:
//
//   signal ──▶ health NOT_SERVING, new Generate calls UNAVAILABLE
//          ──▶ in-flight streams run on for up to shutdown_grace_period
//          ──▶ the rest end with FINISH_REASON_ABORT + UNAVAILABLE "server shutting down"
//          ──▶ gRPC server stopped, engine stopped, exit code 0
//
// Configuration: defaults < YAML (--config FILE) < HEARTH_* env < flags (server_config.h).
// Exit codes: 0 after a graceful shutdown, 1 when the model or the server fails to start,
// 2 for a bad command line or configuration (the message names the key and its origin).
#pragma once

namespace hearth::server {

// argv[0] is "serve". Returns the process exit code.
int RunServe(int argc, char** argv);

}  // namespace hearth::server
