// `hearth synth-model OUT.gguf [--preset NAME] [--layers N --dim D --ffn F --heads H
// --kv-heads K --vocab V --context C --experts E --experts-used U] [--type T] [--seed S]
// [--tied] [--threads N] [--quiet]`: writes a llama-shaped GGUF with random weights straight
// in a quantized type and a minimal byte-level tokenizer (engine/convert/synthetic_model.h),
// for benchmarks without real weights. Flags override the preset's values (default preset
// "tiny"; "llama3-8b", "mixtral-8x7b"). --type: q4_k (default), q5_k, q6_k, q8_0, q4_0, q4_1,
// f16, bf16, f32; --arch llama is the only architecture.
// Exit codes: 0 written, 1 the file could not be written, 2 bad command line.
#pragma once

namespace hearth::server {

// argv[0] is "synth-model". Returns the process exit code.
int RunSynthModel(int argc, char** argv);

}  // namespace hearth::server
