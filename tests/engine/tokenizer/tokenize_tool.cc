// Test driver for the Python comparisons: one process handles a whole corpus.
//
//   tokenize_tool MODEL.gguf|-  < requests  > responses        (one line each, hex-encoded text)
//
// Requests (tab-separated):
//   enc  FLAGS  HEX          FLAGS: "s" parse_special, "b" add_special, "-" none
//        -> ids (space-separated)  TAB  hex(Decode)  TAB  hex(delta),hex(delta),...
//   dec  IDS                 -> hex(Decode)  TAB  deltas as above
//   chat HEX(template) HEX(bos) HEX(eos) ADDGEN(0|1) ROLEHEX:CONTENTHEX;...
//        -> "ok" TAB hex(prompt)   or   "err" TAB message
//   info -> bos eos eot add_bos add_eos vocab_size (space-separated), then stop ids after a TAB
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/incremental_decoder.h"
#include "engine/tokenizer/tokenizer.h"

namespace tk = hearth::engine::tokenizer;

namespace {

std::string Hex(std::string_view s) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string Unhex(std::string_view h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16));
  }
  return out;
}

// Splits on `sep`, keeping empty fields.
std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

std::string DecodeBoth(const tk::Tokenizer& tok, const std::vector<tk::TokenId>& ids) {
  tk::IncrementalDecoder dec(&tok);
  std::vector<std::string> deltas;
  for (tk::TokenId id : ids) deltas.push_back(Hex(dec.Add(id)));
  deltas.push_back(Hex(dec.Flush()));
  return Hex(tok.Decode(ids)) + "\t" + absl::StrJoin(deltas, ",");
}

std::string Chat(const std::vector<std::string_view>& f) {
  if (f.size() < 5) return "err\tbad request";
  auto t = tk::ChatTemplate::Detect(Unhex(f[1]), Unhex(f[2]), Unhex(f[3]));
  if (!t.ok()) return "err\t" + std::string(t.status().message());
  std::vector<tk::ChatMessage> messages;
  if (f.size() > 5 && !f[5].empty()) {
    for (std::string_view m : Split(f[5], ';')) {
      std::vector<std::string_view> rc = Split(m, ':');
      messages.push_back({Unhex(rc[0]), Unhex(rc.size() > 1 ? rc[1] : "")});
    }
  }
  auto prompt = t->Apply(messages, f[4] == "1");
  if (!prompt.ok()) return "err\t" + std::string(prompt.status().message());
  return "ok\t" + Hex(*prompt);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s MODEL.gguf|- < requests\n", argv[0]);
    return 2;
  }
  std::unique_ptr<hearth::engine::GgufFile> file;
  std::unique_ptr<tk::Tokenizer> tok;
  if (std::string(argv[1]) != "-") {
    auto f = hearth::engine::GgufFile::Open(argv[1]);
    if (!f.ok()) {
      std::fprintf(stderr, "open: %s\n", std::string(f.status().message()).c_str());
      return 1;
    }
    file = std::move(*f);
    auto t = tk::Tokenizer::FromGguf(*file);
    if (!t.ok()) {
      std::fprintf(stderr, "tokenizer: %s\n", std::string(t.status().message()).c_str());
      return 1;
    }
    tok = std::move(*t);
  }
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::vector<std::string_view> f = Split(line, '\t');
    std::string reply;
    if (f[0] == "chat") {
      reply = Chat(f);
    } else if (tok == nullptr) {
      reply = "err\tno model";
    } else if (f[0] == "enc" && f.size() == 3) {
      tk::EncodeOptions options;
      options.parse_special = f[1].find('s') != std::string_view::npos;
      options.add_special = f[1].find('b') != std::string_view::npos;
      const std::vector<tk::TokenId> ids = tok->Encode(Unhex(f[2]), options);
      reply = absl::StrJoin(ids, " ") + "\t" + DecodeBoth(*tok, ids);
    } else if (f[0] == "dec" && f.size() == 2) {
      std::vector<tk::TokenId> ids;
      for (std::string_view s : Split(f[1], ' ')) {
        if (!s.empty()) ids.push_back(std::stoi(std::string(s)));
      }
      reply = DecodeBoth(*tok, ids);
    } else if (f[0] == "info") {
      reply = absl::StrJoin({tok->bos_id(), tok->eos_id(), tok->eot_id(),
                             static_cast<int32_t>(tok->spec().add_bos),
                             static_cast<int32_t>(tok->spec().add_eos), tok->vocab_size()},
                            " ") +
              "\t" + absl::StrJoin(tok->stop_ids(), " ");
    } else {
      reply = "err\tbad request";
    }
    std::cout << reply << '\n';
  }
  return 0;
}
