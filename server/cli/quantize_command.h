// `hearth quantize IN.gguf OUT.gguf --type TYPE`: writes a quantized copy of a GGUF model,
// the way llama.cpp's `llama-quantize` does (engine/convert/quantize_plan.h has the rules:
// which tensors stay F32, the Q6_K output matrix, fallbacks for rows K-quants cannot hold).
//
//   --type T                  f32 f16 bf16 q8_0 q4_0 q4_1 q4_k q5_k q6_k (required)
//   --threads N               conversion threads (default: all cores)
//   --pure                    every matrix in T (no output rule)
//   --output-type T           type of output.weight (overrides the rule)
//   --token-embedding-type T  type of token_embd.weight
//   --dry-run                 print each tensor's source type, new type and why; write nothing
//   --quiet                   no progress bar
//
// Keeps every metadata key (general.file_type updated). A quantized source is re-quantized
// with a warning (the new type's error adds to the source's); f32 as the target dequantizes
// losslessly. Progress on stderr, a summary on stdout.
// Exit codes: 0 done, 1 the input cannot be read or the output written, 2 bad command line.
#pragma once

namespace hearth::server {

// argv[0] is "quantize". Returns the process exit code.
int RunQuantize(int argc, char** argv);

}  // namespace hearth::server
