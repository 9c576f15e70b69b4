#include "server/http/json_fields.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace hearth::server::http {
namespace {

absl::Status WrongType(absl::string_view name, const char* want, const Json& got) {
  return absl::InvalidArgumentError(
      absl::StrCat(name, ": must be ", want, ", got ", JsonTypeName(got)));
}

bool IntegralValue(const Json& v, int64_t* out) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() &&
        v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return false;
    }
    *out = v.get<int64_t>();
    return true;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::abs(d) < 9.0e15) {
      *out = static_cast<int64_t>(d);
      return true;
    }
  }
  return false;
}

}  // namespace

std::string DumpJson(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

absl::StatusOr<Json> ParseJsonObject(absl::string_view body) {
  // nlohmann's parser recurses per nesting level: refuse deep nesting before parsing, so a body
  // of a million '[' cannot exhaust the stack.
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        return absl::InvalidArgumentError(
            absl::StrCat("request body: JSON nested deeper than ", kMaxJsonDepth, " levels"));
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  Json parsed = Json::parse(body.data(), body.data() + body.size(), nullptr,
                            /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InvalidArgumentError("request body: not valid JSON");
  }
  if (!parsed.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("request body: must be a JSON object, got ", JsonTypeName(parsed)));
  }
  return parsed;
}

const char* JsonTypeName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "an object";
    case Json::value_t::array:
      return "a list";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "an integer";
    case Json::value_t::number_float:
      return "a number";
    default:
      return "an unsupported value";
  }
}

const Json* Find(const Json& object, absl::string_view key) {
  auto it = object.find(std::string(key));
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::StatusOr<std::optional<double>> GetNumber(const Json& object, absl::string_view key,
                                                absl::string_view name) {
  const Json* v = Find(object, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) return WrongType(name, "a number", *v);
  return v->get<double>();
}

absl::StatusOr<std::optional<int64_t>> GetInt(const Json& object, absl::string_view key,
                                              absl::string_view name) {
  const Json* v = Find(object, key);
  if (v == nullptr) return std::nullopt;
  int64_t out = 0;
  if (!IntegralValue(*v, &out)) return WrongType(name, "an integer", *v);
  return out;
}

absl::StatusOr<std::optional<uint64_t>> GetUint(const Json& object, absl::string_view key,
                                                absl::string_view name) {
  const Json* v = Find(object, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_number_unsigned()) return v->get<uint64_t>();
  int64_t out = 0;
  if (!IntegralValue(*v, &out)) return WrongType(name, "an integer", *v);
  // Negative seeds wrap, as Python's and vLLM's do for 64-bit seeds.
  return static_cast<uint64_t>(out);
}

absl::StatusOr<std::optional<bool>> GetBool(const Json& object, absl::string_view key,
                                            absl::string_view name) {
  const Json* v = Find(object, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) return WrongType(name, "a boolean", *v);
  return v->get<bool>();
}

absl::StatusOr<std::optional<std::string>> GetString(const Json& object, absl::string_view key,
                                                     absl::string_view name) {
  const Json* v = Find(object, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) return WrongType(name, "a string", *v);
  return v->get<std::string>();
}

absl::StatusOr<std::vector<std::string>> GetStringOrList(const Json& object, absl::string_view key,
                                                         absl::string_view name) {
  const Json* v = Find(object, key);
  std::vector<std::string> out;
  if (v == nullptr) return out;
  if (v->is_string()) {
    out.push_back(v->get<std::string>());
    return out;
  }
  if (!v->is_array()) return WrongType(name, "a string or a list of strings", *v);
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& e = (*v)[i];
    if (!e.is_string()) return WrongType(absl::StrCat(name, "[", i, "]"), "a string", e);
    out.push_back(e.get<std::string>());
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> ToIntList(const Json& value, absl::string_view name) {
  if (!value.is_array()) return WrongType(name, "a list of integers", value);
  std::vector<int64_t> out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    int64_t x = 0;
    if (!IntegralValue(value[i], &x)) {
      return WrongType(absl::StrCat(name, "[", i, "]"), "an integer", value[i]);
    }
    out.push_back(x);
  }
  return out;
}

absl::StatusOr<std::optional<std::vector<int64_t>>> GetIntList(const Json& object,
                                                               absl::string_view key,
                                                               absl::string_view name) {
  const Json* v = Find(object, key);
  if (v == nullptr) return std::nullopt;
  return ToIntList(*v, name);
}

}  // namespace hearth::server::http
