// `hearth models [--store DIR] [--json]`: lists the models of Ollama's local store
// ($OLLAMA_MODELS, else ~/.ollama/models; --store overrides) the way `ollama list` does, with
// the quantization and family of each: NAME (what `hearth serve --model` takes), ID, SIZE,
// QUANT, FAMILY, PARAMS, MODIFIED, and a STATUS for broken entries (missing blob, malformed
// manifest). --json prints one JSON array instead.
// Exit codes: 0 listed (also when empty), 1 no store at that place, 2 bad command line.
#pragma once

namespace hearth::server {

// argv[0] is "models". Returns the process exit code.
int RunModels(int argc, char** argv);

}  // namespace hearth::server
