// gguf_dump_tool FILE OUTDIR [NAME...]
//
// Test tool: opens FILE with GgufFile and writes
//   OUTDIR/metadata.json  {"version", "alignment", "data_offset", "metadata": [[key, type, value]],
//                          "tensors": [{"name", "type", "shape", "offset", "num_bytes", "file"}]}
//   OUTDIR/t<i>.f32       tensor i dequantized to raw little-endian float32 (only the tensors
//                          named on the command line, or all when none is named; types without
//                          a dequantizer are skipped and have "file": null)
// Exit status 0 on success; 1 with the Status on stderr when the file does not open.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "engine/gguf/gguf_file.h"

namespace hearth::engine {
namespace {

void WriteJsonString(std::ostream& out, const std::string& s) {
  out << '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out << '\\' << c;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out << buf;
    } else {
      out << c;
    }
  }
  out << '"';
}

void WriteJsonValue(std::ostream& out, const GgufValue& v) {
  if (const auto* u = std::get_if<uint64_t>(&v.value)) {
    out << *u;
  } else if (const auto* i = std::get_if<int64_t>(&v.value)) {
    out << *i;
  } else if (const auto* d = std::get_if<double>(&v.value)) {
    if (std::isnan(*d)) {
      out << "NaN";
    } else if (std::isinf(*d)) {
      out << (*d > 0 ? "Infinity" : "-Infinity");
    } else {
      char buf[40];
      std::snprintf(buf, sizeof(buf), "%.17g", *d);
      out << buf;
    }
  } else if (const auto* b = std::get_if<bool>(&v.value)) {
    out << (*b ? "true" : "false");
  } else if (const auto* s = std::get_if<std::string>(&v.value)) {
    WriteJsonString(out, *s);
  } else {
    const auto& array = std::get<GgufArray>(v.value);
    out << "{\"element_type\": \"" << GgufValueTypeName(array.element_type)
        << "\", \"elements\": [";
    for (size_t i = 0; i < array.elements.size(); ++i) {
      if (i > 0) out << ", ";
      WriteJsonValue(out, array.elements[i]);
    }
    out << "]}";
  }
}

int Main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: gguf_dump_tool FILE OUTDIR [TENSOR_NAME...]\n";
    return 2;
  }
  auto file_or = GgufFile::Open(argv[1]);
  if (!file_or.ok()) {
    std::cerr << file_or.status() << "\n";
    return 1;
  }
  const GgufFile& file = **file_or;
  const std::string outdir = argv[2];
  std::set<std::string> wanted(argv + 3, argv + argc);

  std::ofstream json(outdir + "/metadata.json");
  json << "{\"version\": " << file.version() << ", \"alignment\": " << file.alignment()
       << ", \"data_offset\": " << file.data_offset() << ",\n \"metadata\": [\n";
  for (size_t i = 0; i < file.metadata().size(); ++i) {
    const auto& [key, value] = file.metadata()[i];
    json << (i > 0 ? ",\n  [" : "  [");
    WriteJsonString(json, key);
    json << ", \"" << GgufValueTypeName(value.type) << "\", ";
    WriteJsonValue(json, value);
    json << "]";
  }
  json << "],\n \"tensors\": [\n";
  std::vector<float> buffer;
  for (size_t i = 0; i < file.tensors().size(); ++i) {
    const GgufTensor& t = file.tensors()[i];
    json << (i > 0 ? ",\n  {" : "  {") << "\"name\": ";
    WriteJsonString(json, t.name);
    json << ", \"type\": \"" << t.traits->name << "\", \"shape\": [";
    for (size_t d = 0; d < t.shape.size(); ++d) json << (d > 0 ? ", " : "") << t.shape[d];
    json << "], \"offset\": " << t.offset << ", \"num_bytes\": " << t.num_bytes << ", \"file\": ";
    const bool dump = (wanted.empty() || wanted.count(t.name) > 0) && t.traits->supported();
    if (!dump) {
      json << "null}";
      continue;
    }
    char name_buf[32];
    std::snprintf(name_buf, sizeof(name_buf), "t%zu.f32", i);
    const std::string name = name_buf;
    buffer.resize(static_cast<size_t>(t.num_elements));
    t.traits->dequantize(t.data, buffer.data(), t.num_elements);
    std::ofstream out(outdir + "/" + name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(buffer.data()),
              static_cast<std::streamsize>(buffer.size() * sizeof(float)));
    if (!out) {
      std::cerr << "cannot write " << outdir << "/" << name << "\n";
      return 1;
    }
    json << "\"" << name << "\"}";
  }
  json << "]}\n";
  return json ? 0 : 1;
}

}  // namespace
}  // namespace hearth::engine

int main(int argc, char** argv) { return hearth::engine::Main(argc, argv); }
