#include "engine/constraint/json_schema_compiler.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "engine/constraint/regex_compiler.h"
#include "engine/constraint/text_util.h"
#include "nlohmann/json.hpp"

namespace hearth::constraint {
namespace {

using Json = nlohmann::ordered_json;

constexpr int kMaxDepth = 64;
constexpr int kMaxWhitespace = 20;

const absl::flat_hash_set<std::string>& Annotations() {
  static const auto* const k = new absl::flat_hash_set<std::string>{
      "title",   "description",      "default",         "examples",      "$schema",
      "$id",     "$comment",         "readOnly",        "writeOnly",     "deprecated",
      "$anchor", "contentMediaType", "contentEncoding", "discriminator", "x-order"};
  return *k;
}

const absl::flat_hash_set<std::string>& Supported() {
  static const auto* const k = new absl::flat_hash_set<std::string>{
      "type",       "enum",     "const",    "properties", "required",  "additionalProperties",
      "items",      "minItems", "maxItems", "minLength",  "maxLength", "pattern",
      "format",     "anyOf",    "oneOf",    "allOf",      "$ref",      "$defs",
      "definitions"};
  return *k;
}

const std::map<std::string, std::string>& FormatPatterns() {
  static const auto* const k = [] {
    const std::string date = "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])";
    const std::string time =
        "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?"
        "(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])";
    return new std::map<std::string, std::string>{
        {"date", date},
        {"time", time},
        {"date-time", date + "T" + time},
        {"uuid", "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"},
    };
  }();
  return *k;
}

std::string Child(const std::string& path, std::string_view key) {
  std::string k(key);
  std::string escaped;
  for (char c : k) {
    if (c == '~') {
      escaped += "~0";
    } else if (c == '/') {
      escaped += "~1";
    } else {
      escaped += c;
    }
  }
  return path + "/" + escaped;
}

bool MatchesType(const Json& v, const std::string& type) {
  if (type == "string") return v.is_string();
  if (type == "integer")
    return v.is_number_integer() ||
           (v.is_number_float() &&
            v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>())));
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  if (type == "null") return v.is_null();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  return false;
}

class SchemaCompiler {
 public:
  absl::StatusOr<Grammar> Compile(const Json& root) {
    root_ = &root;
    const int32_t rule = b_.DeclareRule("root");
    absl::StatusOr<Expr> body = Schema(root, "", 0);
    if (!body.ok()) return body.status();
    b_.SetBody(rule, *std::move(body));
    return Finish(rule);
  }

  absl::StatusOr<Grammar> AnyObject() {
    const int32_t rule = b_.AddRule("root", Expr::Ref(GenericObject()));
    return Finish(rule);
  }

 private:
  absl::StatusOr<Grammar> Finish(int32_t root) {
    absl::StatusOr<Grammar> g = std::move(b_).Build(root);
    if (!g.ok())
      return absl::InvalidArgumentError(absl::StrCat("json_schema: ", g.status().message()));
    return g;
  }

  static absl::Status Error(const std::string& path, absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("json_schema: at ", path.empty() ? "/" : path, ": ", what));
  }

  // --- generic pieces (one rule each, made on first use) ---

  Expr Ws() {
    if (ws_ < 0) {
      ws_ = b_.AddRule(
          "ws", Expr::Alt({Expr::Empty(), Expr::Byte(' '),
                           Expr::Seq({Expr::Byte('\n'),
                                      Expr::Repeat(Expr::Bytes(WsBytes()), 0, kMaxWhitespace)})}));
    }
    return Expr::Ref(ws_);
  }
  static ByteSet WsBytes() {
    ByteSet s;
    s.Add(' ');
    s.Add('\t');
    return s;
  }
  Expr Sep(char c) { return Expr::Seq({Ws(), Expr::Byte(static_cast<uint8_t>(c)), Ws()}); }

  // One character of a JSON string: a plain code point or an escape (never a lone surrogate).
  Expr StringChar() {
    if (char_ < 0) {
      ByteSet simple;
      for (char c : std::string("\"\\/bfnrt")) simple.Add(static_cast<uint8_t>(c));
      ByteSet hex = ByteSet::Range('0', '9');
      for (uint8_t c = 'a'; c <= 'f'; ++c) hex.Add(c), hex.Add(static_cast<uint8_t>(c - 32));
      ByteSet hex_not_d = hex;
      hex_not_d.bits = {};
      for (int c = 0; c < 256; ++c) {
        if (hex.Has(static_cast<uint8_t>(c)) && c != 'd' && c != 'D')
          hex_not_d.Add(static_cast<uint8_t>(c));
      }
      const Expr hex_e = Expr::Bytes(hex);
      // \uXXXX outside D800-DFFF: first digit not d, or d followed by 0-7.
      Expr unicode = Expr::Seq(
          {Expr::Literal("\\u"),
           Expr::Alt(
               {Expr::Seq({Expr::Bytes(hex_not_d), hex_e}),
                Expr::Seq({Expr::Bytes(ByteSet::Of('d')), Expr::Bytes(ByteSet::Range('0', '7'))}),
                Expr::Seq({Expr::Bytes(ByteSet::Of('D')), Expr::Bytes(ByteSet::Range('0', '7'))})}),
           hex_e, hex_e});
      char_ = b_.AddRule(
          "char",
          Expr::Alt({Expr::CodePoints({{0x20, 0x21}, {0x23, 0x5B}, {0x5D, 0x10FFFF}}),
                     Expr::Seq({Expr::Byte('\\'), Expr::Bytes(simple)}), std::move(unicode)}));
    }
    return Expr::Ref(char_);
  }

  Expr GenericString() {
    if (string_ < 0) {
      string_ = b_.AddRule("string",
                           Expr::Seq({Expr::Byte('"'), Expr::Star(StringChar()), Expr::Byte('"')}));
    }
    return Expr::Ref(string_);
  }

  Expr Integer() {
    if (integer_ < 0) {
      integer_ = b_.AddRule(
          "integer",
          Expr::Seq({Expr::Optional(Expr::Byte('-')),
                     Expr::Alt({Expr::Byte('0'),
                                Expr::Seq({Expr::Bytes(ByteSet::Range('1', '9')),
                                           Expr::Repeat(Expr::Bytes(ByteSet::Range('0', '9')), 0,
                                                        15)})})}));
    }
    return Expr::Ref(integer_);
  }

  Expr Number() {
    if (number_ < 0) {
      ByteSet e;
      e.Add('e');
      e.Add('E');
      ByteSet sign;
      sign.Add('+');
      sign.Add('-');
      const Expr digit = Expr::Bytes(ByteSet::Range('0', '9'));
      number_ = b_.AddRule(
          "number",
          Expr::Seq({Integer(),
                     Expr::Optional(Expr::Seq({Expr::Byte('.'), Expr::Repeat(digit, 1, 15)})),
                     Expr::Optional(Expr::Seq({Expr::Bytes(e), Expr::Optional(Expr::Bytes(sign)),
                                               Expr::Repeat(digit, 1, 3)}))}));
    }
    return Expr::Ref(number_);
  }

  int32_t GenericValue() {
    if (value_ < 0) {
      value_ = b_.DeclareRule("value");
      const int32_t object = GenericObject();
      const int32_t array = b_.DeclareRule("array");
      const Expr items =
          Expr::Seq({Expr::Ref(value_), Expr::Star(Expr::Seq({Sep(','), Expr::Ref(value_)}))});
      b_.SetBody(array,
                 Expr::Seq({Expr::Byte('['), Ws(), Expr::Optional(items), Ws(), Expr::Byte(']')}));
      b_.SetBody(value_,
                 Expr::Alt({Expr::Ref(object), Expr::Ref(array), GenericString(), Number(),
                            Expr::Literal("true"), Expr::Literal("false"), Expr::Literal("null")}));
    }
    return value_;
  }

  int32_t GenericObject() {
    if (object_ < 0) {
      object_ = b_.DeclareRule("object");
      const int32_t value = GenericValue();
      const Expr member = Expr::Seq({GenericString(), Sep(':'), Expr::Ref(value)});
      b_.SetBody(
          object_,
          Expr::Seq({Expr::Byte('{'), Ws(),
                     Expr::Optional(Expr::Seq({member, Expr::Star(Expr::Seq({Sep(','), member}))})),
                     Ws(), Expr::Byte('}')}));
    }
    return object_;
  }

  // --- schemas ---

  absl::StatusOr<Expr> Schema(const Json& s, const std::string& path, int depth) {
    if (depth > kMaxDepth) return Error(path, absl::StrCat("nesting deeper than ", kMaxDepth));
    if (s.is_boolean()) {
      if (s.get<bool>()) return Expr::Ref(GenericValue());
      return Error(path, "the schema `false` matches nothing");
    }
    if (!s.is_object()) return Error(path, "a schema must be an object or a boolean");
    bool has_validation = false;
    for (const auto& [key, value] : s.items()) {
      if (Annotations().contains(key)) continue;
      if (!Supported().contains(key)) {
        return Error(path, absl::StrCat("unsupported keyword '", key,
                                        "' (supported: see docs/API.md, Structured output)"));
      }
      if (key != "$defs" && key != "definitions") has_validation = true;
    }
    if (!has_validation) return Expr::Ref(GenericValue());

    auto only = [&](absl::string_view keyword) -> absl::Status {
      for (const auto& [key, value] : s.items()) {
        if (key == keyword || Annotations().contains(key) || key == "$defs" || key == "definitions")
          continue;
        return Error(path,
                     absl::StrCat("'", keyword, "' together with '", key, "' is not supported"));
      }
      return absl::OkStatus();
    };

    if (s.contains("$ref")) {
      if (absl::Status st = only("$ref"); !st.ok()) return st;
      return Ref(s["$ref"], Child(path, "$ref"), depth);
    }
    if (s.contains("allOf")) {
      if (absl::Status st = only("allOf"); !st.ok()) return st;
      const Json& all = s["allOf"];
      if (!all.is_array() || all.size() != 1) {
        return Error(Child(path, "allOf"), "only a single-schema allOf is supported");
      }
      return Schema(all[0], Child(Child(path, "allOf"), "0"), depth + 1);
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (!s.contains(key)) continue;
      if (absl::Status st = only(key); !st.ok()) return st;
      const Json& list = s[key];
      const std::string p = Child(path, key);
      if (!list.is_array() || list.empty()) return Error(p, "must be a non-empty array of schemas");
      std::vector<Expr> alts;
      for (size_t i = 0; i < list.size(); ++i) {
        absl::StatusOr<Expr> e = Schema(list[i], Child(p, std::to_string(i)), depth + 1);
        if (!e.ok()) return e;
        alts.push_back(*std::move(e));
      }
      return Expr::Alt(std::move(alts));
    }

    std::vector<std::string> types;
    if (s.contains("type")) {
      const Json& t = s["type"];
      if (t.is_string()) {
        types.push_back(t.get<std::string>());
      } else if (t.is_array() && !t.empty()) {
        for (const Json& x : t) {
          if (!x.is_string())
            return Error(Child(path, "type"), "must be a string or a list of strings");
          types.push_back(x.get<std::string>());
        }
      } else {
        return Error(Child(path, "type"), "must be a string or a non-empty list of strings");
      }
      for (const std::string& type : types) {
        static const absl::flat_hash_set<std::string> kTypes = {
            "object", "array", "string", "number", "integer", "boolean", "null"};
        if (!kTypes.contains(type))
          return Error(Child(path, "type"), absl::StrCat("unknown type '", type, "'"));
      }
    }

    if (s.contains("enum") || s.contains("const")) {
      std::vector<Json> values;
      if (s.contains("const")) {
        values.push_back(s["const"]);
      } else {
        if (!s["enum"].is_array() || s["enum"].empty()) {
          return Error(Child(path, "enum"), "must be a non-empty array");
        }
        for (const Json& v : s["enum"]) values.push_back(v);
      }
      std::vector<Expr> alts;
      for (const Json& v : values) {
        const bool ok =
            types.empty() || std::any_of(types.begin(), types.end(),
                                         [&](const std::string& t) { return MatchesType(v, t); });
        if (ok) alts.push_back(Expr::Literal(v.dump()));
      }
      if (alts.empty()) {
        return Error(path, "no enum/const value has the schema's type: nothing can match");
      }
      return Expr::Alt(std::move(alts));
    }

    if (types.empty()) {
      // Infer from the keywords present (JSON schema applies each only to its own type).
      if (s.contains("properties") || s.contains("required") ||
          s.contains("additionalProperties")) {
        types.push_back("object");
      } else if (s.contains("items") || s.contains("minItems") || s.contains("maxItems")) {
        types.push_back("array");
      } else if (s.contains("pattern") || s.contains("minLength") || s.contains("maxLength") ||
                 s.contains("format")) {
        types.push_back("string");
      } else {
        return Expr::Ref(GenericValue());
      }
    }
    std::vector<Expr> alts;
    for (const std::string& type : types) {
      absl::StatusOr<Expr> e = Typed(s, type, path, depth);
      if (!e.ok()) return e;
      alts.push_back(*std::move(e));
    }
    return Expr::Alt(std::move(alts));
  }

  absl::StatusOr<Expr> Typed(const Json& s, const std::string& type, const std::string& path,
                             int depth) {
    if (type == "null") return Expr::Literal("null");
    if (type == "boolean") return Expr::Alt({Expr::Literal("true"), Expr::Literal("false")});
    if (type == "integer") return Integer();
    if (type == "number") return Number();
    if (type == "string") return String(s, path);
    if (type == "array") return Array(s, path, depth);
    return Object(s, path, depth);
  }

  absl::StatusOr<int64_t> Count(const Json& s, const char* key, const std::string& path,
                                int64_t fallback) {
    if (!s.contains(key)) return fallback;
    const Json& v = s[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 0) {
      return Error(Child(path, key), "must be a non-negative integer");
    }
    if (v.get<int64_t>() > kMaxRepeatCount) {
      return Error(Child(path, key),
                   absl::StrCat("values over ", kMaxRepeatCount, " are not supported"));
    }
    return v.get<int64_t>();
  }

  absl::StatusOr<Expr> String(const Json& s, const std::string& path) {
    const Expr quote = Expr::Byte('"');
    std::string pattern;
    std::string pattern_path;
    if (s.contains("pattern")) {
      if (!s["pattern"].is_string()) return Error(Child(path, "pattern"), "must be a string");
      pattern = s["pattern"].get<std::string>();
      pattern_path = Child(path, "pattern");
    } else if (s.contains("format") && s["format"].is_string() &&
               FormatPatterns().contains(s["format"].get<std::string>())) {
      pattern = FormatPatterns().at(s["format"].get<std::string>());
      pattern_path = Child(path, "format");
    }
    if (!pattern.empty()) {
      if (s.contains("minLength") || s.contains("maxLength")) {
        return Error(path, "pattern or format together with minLength/maxLength is not supported");
      }
      absl::StatusOr<Expr> body = CompileRegex(pattern, {.json_string = true});
      if (!body.ok()) return Error(pattern_path, body.status().message());
      return Expr::Seq({quote, *std::move(body), quote});
    }
    absl::StatusOr<int64_t> min = Count(s, "minLength", path, 0);
    if (!min.ok()) return min.status();
    absl::StatusOr<int64_t> max = Count(s, "maxLength", path, Expr::kUnbounded);
    if (!max.ok()) return max.status();
    if (*max >= 0 && *max < *min) return Error(path, "minLength is greater than maxLength");
    if (*min == 0 && *max < 0) return GenericString();
    return Expr::Seq(
        {quote, Expr::Repeat(StringChar(), static_cast<int32_t>(*min), static_cast<int32_t>(*max)),
         quote});
  }

  absl::StatusOr<Expr> Array(const Json& s, const std::string& path, int depth) {
    Expr item = Expr::Ref(GenericValue());
    if (s.contains("items")) {
      absl::StatusOr<Expr> e = Schema(s["items"], Child(path, "items"), depth + 1);
      if (!e.ok()) return e;
      item = *std::move(e);
    }
    absl::StatusOr<int64_t> min = Count(s, "minItems", path, 0);
    if (!min.ok()) return min.status();
    absl::StatusOr<int64_t> max = Count(s, "maxItems", path, Expr::kUnbounded);
    if (!max.ok()) return max.status();
    if (*max >= 0 && *max < *min) return Error(path, "minItems is greater than maxItems");
    const Expr open = Expr::Seq({Expr::Byte('['), Ws()});
    const Expr close = Expr::Seq({Ws(), Expr::Byte(']')});
    if (*max == 0) return Expr::Seq({open, close});
    // Share the item through a rule: it appears several times below.
    const int32_t item_rule = b_.AddRule(absl::StrCat("item", ++items_), std::move(item));
    const Expr one = Expr::Ref(item_rule);
    const int32_t rest_min = static_cast<int32_t>(std::max<int64_t>(*min - 1, 0));
    const int32_t rest_max = *max < 0 ? Expr::kUnbounded : static_cast<int32_t>(*max - 1);
    Expr body = Expr::Seq({one, Expr::Repeat(Expr::Seq({Sep(','), one}), rest_min, rest_max)});
    if (*min == 0) body = Expr::Optional(std::move(body));
    return Expr::Seq({open, std::move(body), close});
  }

  absl::StatusOr<Expr> Object(const Json& s, const std::string& path, int depth) {
    const Json empty = Json::object();
    const Json& props = s.contains("properties") ? s["properties"] : empty;
    if (!props.is_object()) return Error(Child(path, "properties"), "must be an object");
    // Additional members: allowed by an explicit true / schema, or by default when no
    // properties are declared.
    bool additional = props.empty();
    std::optional<Expr> additional_value;
    if (s.contains("additionalProperties")) {
      const Json& a = s["additionalProperties"];
      if (a.is_boolean()) {
        additional = a.get<bool>();
      } else {
        absl::StatusOr<Expr> e = Schema(a, Child(path, "additionalProperties"), depth + 1);
        if (!e.ok()) return e;
        additional = true;
        additional_value = *std::move(e);
      }
    }
    absl::flat_hash_set<std::string> required;
    if (s.contains("required")) {
      const Json& r = s["required"];
      if (!r.is_array()) return Error(Child(path, "required"), "must be an array of names");
      for (const Json& name : r) {
        if (!name.is_string()) return Error(Child(path, "required"), "must be an array of names");
        required.insert(name.get<std::string>());
      }
    }
    struct Member {
      Expr kv;
      bool required;
    };
    std::vector<Member> members;
    std::vector<std::string> names;
    const std::string props_path = Child(path, "properties");
    for (const auto& [name, sub] : props.items()) {
      absl::StatusOr<Expr> v = Schema(sub, Child(props_path, name), depth + 1);
      if (!v.ok()) return v.status();
      members.push_back({Expr::Seq({Expr::Literal(Json(name).dump()), Sep(':'), *std::move(v)}),
                         required.contains(name)});
      names.push_back(name);
    }
    // Required names without a property schema take the additional schema.
    if (s.contains("required")) {
      for (const Json& n : s["required"]) {
        const std::string name = n.get<std::string>();
        if (props.contains(name)) continue;
        if (!additional) {
          return Error(
              Child(path, "required"),
              absl::StrCat("'", name, "' is required but additional properties are not allowed"));
        }
        Expr v = additional_value.has_value() ? *additional_value : Expr::Ref(GenericValue());
        members.push_back(
            {Expr::Seq({Expr::Literal(Json(name).dump()), Sep(':'), std::move(v)}), true});
        names.push_back(name);
      }
    }
    std::optional<Expr> extra;  // one additional member
    if (additional) {
      Expr v = additional_value.has_value() ? *additional_value : Expr::Ref(GenericValue());
      extra = Expr::Seq({KeyNotIn(names), Sep(':'), std::move(v)});
    }
    // tail(i): members i.. after something was emitted: each preceded by ","; first(i): nothing
    // emitted yet.
    const size_t n = members.size();
    std::vector<Expr> tails(n + 1);
    tails[n] = extra.has_value() ? Expr::Star(Expr::Seq({Sep(','), *extra})) : Expr::Empty();
    for (size_t i = n; i-- > 0;) {
      Expr item = Expr::Seq({Sep(','), members[i].kv});
      if (!members[i].required) item = Expr::Optional(std::move(item));
      tails[i] = Expr::Seq({std::move(item), tails[i + 1]});
    }
    Expr first = extra.has_value() ? Expr::Optional(Expr::Seq({*extra, tails[n]})) : Expr::Empty();
    for (size_t i = n; i-- > 0;) {
      Expr with = Expr::Seq({members[i].kv, tails[i + 1]});
      first =
          members[i].required ? std::move(with) : Expr::Alt({std::move(with), std::move(first)});
    }
    return Expr::Seq({Expr::Byte('{'), Ws(), std::move(first), Ws(), Expr::Byte('}')});
  }

  // A JSON string key (no escapes) that is none of `names`: a trie over their code points,
  // leaving it at any point for a free tail.
  Expr KeyNotIn(const std::vector<std::string>& names) {
    const std::vector<CodePointRange> plain = {{0x20, 0x21}, {0x23, 0x5B}, {0x5D, 0x10FFFF}};
    if (tail_ < 0) {
      tail_ =
          b_.AddRule("key-tail", Expr::Seq({Expr::Star(Expr::CodePoints(plain)), Expr::Byte('"')}));
    }
    struct Node {
      std::map<uint32_t, int> children;
      bool terminal = false;
    };
    std::vector<Node> trie(1);
    for (const std::string& name : names) {
      int at = 0;
      size_t pos = 0;
      bool ok = true;
      std::vector<uint32_t> cps;
      while (pos < name.size()) {
        absl::StatusOr<uint32_t> cp = DecodeUtf8(name, pos);
        if (!cp.ok() || *cp < 0x20 || *cp == '"' || *cp == '\\') {
          ok = false;  // such a key can never be produced here: no need to exclude it
          break;
        }
        cps.push_back(*cp);
      }
      if (!ok) continue;
      for (uint32_t cp : cps) {
        auto it = trie[at].children.find(cp);
        if (it == trie[at].children.end()) {
          trie.push_back(Node{});
          it = trie[at].children.emplace(cp, static_cast<int>(trie.size()) - 1).first;
        }
        at = it->second;
      }
      trie[at].terminal = true;
    }
    const int base = ++keys_;
    std::vector<int32_t> rules(trie.size());
    for (size_t i = 0; i < trie.size(); ++i)
      rules[i] = b_.DeclareRule(absl::StrCat("key", base, "-", i));
    for (size_t i = 0; i < trie.size(); ++i) {
      std::vector<Expr> alts;
      if (!trie[i].terminal) alts.push_back(Expr::Byte('"'));
      std::vector<CodePointRange> used;
      for (const auto& [cp, child] : trie[i].children) {
        std::string bytes;
        AppendUtf8(cp, &bytes);
        alts.push_back(Expr::Seq({Expr::Literal(bytes), Expr::Ref(rules[child])}));
        used.push_back({cp, cp});
      }
      std::vector<CodePointRange> others = plain;
      if (!used.empty()) {
        std::vector<CodePointRange> allowed;
        for (const CodePointRange& r : ComplementRanges(used)) {
          for (const CodePointRange& p : plain) {
            const uint32_t lo = std::max(r.lo, p.lo), hi = std::min(r.hi, p.hi);
            if (lo <= hi) allowed.push_back({lo, hi});
          }
        }
        others = allowed;
      }
      if (!others.empty()) alts.push_back(Expr::Seq({Expr::CodePoints(others), Expr::Ref(tail_)}));
      b_.SetBody(rules[i], Expr::Alt(std::move(alts)));
    }
    return Expr::Seq({Expr::Byte('"'), Expr::Ref(rules[0])});
  }

  absl::StatusOr<Expr> Ref(const Json& ref, const std::string& path, int depth) {
    if (!ref.is_string()) return Error(path, "must be a string");
    const std::string target = ref.get<std::string>();
    auto it = refs_.find(target);
    if (it != refs_.end()) return Expr::Ref(it->second);
    if (target.empty() || target[0] != '#') {
      return Error(
          path, absl::StrCat("only local references (\"#...\") are supported, got '", target, "'"));
    }
    const Json* node = nullptr;
    try {
      node = &root_->at(Json::json_pointer(target.substr(1)));
    } catch (const std::exception&) {
      return Error(path, absl::StrCat("reference '", target, "' does not resolve in this schema"));
    }
    std::string name = "ref";
    for (char c : target) name += (std::isalnum(static_cast<unsigned char>(c)) ? c : '-');
    const int32_t rule = b_.DeclareRule(name);
    refs_.emplace(target, rule);
    absl::StatusOr<Expr> body = Schema(*node, target.substr(1), depth + 1);
    if (!body.ok()) return body;
    b_.SetBody(rule, *std::move(body));
    return Expr::Ref(rule);
  }

  GrammarBuilder b_;
  const Json* root_ = nullptr;
  absl::flat_hash_map<std::string, int32_t> refs_;
  int32_t ws_ = -1, char_ = -1, string_ = -1, integer_ = -1, number_ = -1, value_ = -1,
          object_ = -1, tail_ = -1;
  int items_ = 0, keys_ = 0;
};

// The deepest nesting of arrays / objects in `text` (strings skipped): bounded before parsing,
// since serializing deeply nested values recurses.
int MaxNesting(std::string_view text) {
  int depth = 0, max = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max = std::max(max, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max;
}

}  // namespace

absl::StatusOr<Grammar> JsonSchemaGrammar(std::string_view schema) {
  if (MaxNesting(schema) > 2 * kMaxDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat("json_schema: nested deeper than ", 2 * kMaxDepth, " levels"));
  }
  Json root;
  try {
    root = Json::parse(schema);
  } catch (const Json::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("json_schema: invalid JSON at byte ", e.byte, ": ", e.what()));
  }
  try {
    return SchemaCompiler().Compile(root);
  } catch (const std::exception& e) {  // nlohmann type errors on malformed keyword values
    return absl::InvalidArgumentError(absl::StrCat("json_schema: ", e.what()));
  }
}

absl::StatusOr<Grammar> JsonObjectGrammar() { return SchemaCompiler().AnyObject(); }

}  // namespace hearth::constraint
