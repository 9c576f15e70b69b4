// `hearth client`: a command-line gRPC client of a running `hearth serve`.
//
//   hearth client generate --prompt TEXT | --chat TEXT [sampling flags]   text to stdout as it
//                                 streams; a last line to stderr with finish reason and usage
//   hearth client tokenize TEXT   token ids, space-separated
//   hearth client models          one line per served model
//   hearth client info            ModelInfo, one "field: value" line each
//   hearth client health          the health status (exit 0 only when SERVING)
//
// Every subcommand takes --address HOST:PORT (default 127.0.0.1:50051) and --deadline_ms N.
// Exit codes: 0 ok, 1 the RPC failed (stderr names the gRPC status code and message),
// 2 a bad command line.
#pragma once

namespace hearth::server {

// argv[0] is "client". Returns the process exit code.
int RunClient(int argc, char** argv);

}  // namespace hearth::server
