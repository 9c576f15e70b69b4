"""The JSON schemas, regexes and grammars the structured-output tests sample against.

Schemas cover the supported subset: nested objects, enums, const, patterns and formats,
arrays with minItems / maxItems, anyOf / oneOf, type lists, additionalProperties, string
lengths, $ref to local $defs (recursion included). Free-text strings mostly carry a maxLength
so that a 135M-parameter model at temperature 1.0 finishes within the tests' max_tokens.
"""

SIGNAL = {
    "type": "object",
    "properties": {
        "side": {"enum": ["buy", "sell"]},
        "size": {"type": "number"},
        "reason": {"type": "string", "maxLength": 60},
    },
    "required": ["side", "size", "reason"],
}


def _obj(props, required=None, **extra):
    s = {"type": "object", "properties": props,
         "required": list(props) if required is None else required}
    s.update(extra)
    return s


S = {"type": "string", "maxLength": 24}

SCHEMAS = [
    SIGNAL,
    _obj({"name": S, "age": {"type": "integer"}}),
    _obj({"ok": {"type": "boolean"}}),
    _obj({"value": {"type": "null"}}),
    _obj({"city": S, "country": {"type": "string", "minLength": 2, "maxLength": 3}}),
    _obj({"color": {"enum": ["red", "green", "blue"]}}),
    _obj({"level": {"enum": [1, 2, 3]}, "tag": {"enum": ["a", None, True]}}),
    _obj({"version": {"const": "v1"}, "n": {"type": "integer"}}),
    _obj({"ticker": {"type": "string", "pattern": "^[A-Z]{2,5}$"}}),
    _obj({"date": {"type": "string", "format": "date"}}),
    _obj({"when": {"type": "string", "format": "date-time"}}),
    _obj({"id": {"type": "string", "format": "uuid"}}),
    _obj({"time": {"type": "string", "format": "time"}}),
    _obj({"phone": {"type": "string", "pattern": "^\\+?[0-9]{7,12}$"}}),
    _obj({"code": {"type": "string", "pattern": "[a-z]+-[0-9]{2}"}}),
    _obj({"tags": {"type": "array", "items": S, "minItems": 1, "maxItems": 3}}),
    _obj({"nums": {"type": "array", "items": {"type": "integer"}, "maxItems": 4}}),
    _obj({"pair": {"type": "array", "items": {"type": "number"}, "minItems": 2,
                   "maxItems": 2}}),
    _obj({"matrix": {"type": "array", "maxItems": 2,
                     "items": {"type": "array", "items": {"type": "integer"}, "maxItems": 2}}}),
    _obj({"user": _obj({"name": S, "email": {"type": "string", "pattern": "^[a-z]{1,8}@[a-z]{1,8}\\.com$"}})}),
    _obj({"a": _obj({"b": _obj({"c": {"type": "integer"}})})}),
    _obj({"order": _obj({"side": {"enum": ["buy", "sell"]}, "qty": {"type": "integer"},
                         "limit": {"type": ["number", "null"]}})}),
    _obj({"x": {"type": "number"}, "y": {"type": "number"}, "label": S}, required=["x", "y"]),
    _obj({"title": S, "subtitle": S, "year": {"type": "integer"}}, required=["title"]),
    _obj({"p": {"type": "integer"}, "q": {"type": "integer"}}, required=[]),
    _obj({"val": {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 10}]}}),
    _obj({"val": {"oneOf": [{"type": "boolean"}, {"type": "null"}]}}),
    _obj({"shape": {"oneOf": [
        _obj({"kind": {"const": "circle"}, "r": {"type": "number"}}),
        _obj({"kind": {"const": "rect"}, "w": {"type": "number"}, "h": {"type": "number"}}),
    ]}}),
    _obj({"maybe": {"anyOf": [S, {"type": "null"}]}}),
    _obj({"v": {"type": ["integer", "boolean"]}}),
    _obj({"meta": {"type": "object", "additionalProperties": {"type": "integer"}}}),
    _obj({"id": {"type": "integer"}}, additionalProperties={"type": "string", "maxLength": 8}),
    _obj({"id": {"type": "integer"}}, additionalProperties=False),
    {"type": "object", "properties": {}, "additionalProperties": False},
    {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 5},
    {"type": "array", "items": {"enum": ["x", "y", "z"]}, "minItems": 2, "maxItems": 4},
    {"type": "array", "items": _obj({"k": S, "v": {"type": "integer"}}), "maxItems": 2},
    {"type": "string", "maxLength": 30},
    {"type": "string", "pattern": "^(yes|no)$"},
    {"type": "integer"},
    {"type": "number"},
    {"type": "boolean"},
    {"enum": ["alpha", "beta", "gamma", 42, None]},
    {"anyOf": [{"type": "integer"}, _obj({"error": S})]},
    {"$defs": {"point": _obj({"x": {"type": "integer"}, "y": {"type": "integer"}})},
     "type": "object", "properties": {"from": {"$ref": "#/$defs/point"},
                                      "to": {"$ref": "#/$defs/point"}},
     "required": ["from", "to"]},
    {"definitions": {"money": _obj({"amount": {"type": "number"},
                                    "currency": {"enum": ["USD", "EUR"]}})},
     "type": "object", "properties": {"price": {"$ref": "#/definitions/money"}},
     "required": ["price"]},
    {"$defs": {"node": _obj({"v": {"type": "integer"},
                             "children": {"type": "array", "items": {"$ref": "#/$defs/node"},
                                          "maxItems": 2}})},
     "$ref": "#/$defs/node"},
    {"$defs": {"list": {"anyOf": [{"type": "null"},
                                  _obj({"head": {"type": "integer"},
                                        "tail": {"$ref": "#/$defs/list"}})]}},
     "$ref": "#/$defs/list"},
    {"allOf": [_obj({"name": S})], "title": "Named", "description": "single allOf"},
    _obj({"status": {"enum": ["open", "closed"]}, "items": {"type": "array", "maxItems": 3,
          "items": _obj({"sku": {"type": "string", "pattern": "^[A-Z]{3}[0-9]{3}$"},
                         "qty": {"type": "integer"}})}}),
    _obj({"signal": SIGNAL, "confidence": {"type": "number"}}),
    _obj({"emoji": {"type": "string", "minLength": 1, "maxLength": 2}}),
    _obj({"flags": {"type": "array", "items": {"type": "boolean"}, "minItems": 3,
                    "maxItems": 3}}),
    _obj({"note": {"type": "string", "maxLength": 40}, "priority": {"enum": ["low", "high"]}},
         title="Note", description="a note"),
    {"type": ["object", "null"], "properties": {"k": {"type": "integer"}}, "required": ["k"]},
    {},
]

REGEXES = [
    r"(buy|sell) [0-9]{1,4}",
    r"\(\d{3}\) \d{3}-\d{4}",
    r"[A-Z][a-z]{2,8}( [A-Z][a-z]{2,8})?",
    r"\d{4}-\d{2}-\d{2}",
    r"(yes|no|maybe)\.",
    r"[a-z]{1,10}@[a-z]{1,8}\.(com|org)",
    r"-?\d{1,6}(\.\d{1,2})?",
    r"[0-9a-f]{8}",
]

# An arithmetic-expression grammar; the tests check its outputs with their own parser.
EXPR_GRAMMAR = r"""
root   ::= expr
expr   ::= term ( ws [-+] ws term ){0,2}
term   ::= factor ( ws [*/] ws factor )?
factor ::= [0-9]{1,3} | "(" ws expr ws ")"
ws     ::= " "?
"""

# key=value pairs separated by ";", values quoted or numeric.
KV_GRAMMAR = r"""
root  ::= pair (";" pair){0,3}
pair  ::= key "=" value
key   ::= [a-z] [a-z_]{0,7}
value ::= "\"" [^"\n]{0,12} "\"" | [0-9]{1,4}
"""
