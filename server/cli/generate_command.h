// `hearth generate`: stream a completion of one prompt (or an interactive chat) to stdout,
// through the same Engine the server uses.
#pragma once

namespace hearth::server {

// argv[0] is "generate". Returns the process exit code.
int RunGenerate(int argc, char** argv);

}  // namespace hearth::server
