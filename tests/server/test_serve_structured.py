"""Structured output through the real server (grpcio): every constrained sample is checked by
an independent reference — the `jsonschema` package for JSON schemas, Python's re.fullmatch for
regexes, a recursive-descent parser written here for the GBNF grammars — and the constraint
must not perturb what it allows (greedy equality), nor determinism under load."""

import concurrent.futures
import json
import re

import grpc
import jsonschema
import pytest

from conftest import Server, pb
from hearth_client import FinishReason
import structured_corpus as corpus

SEEDS = [1, 2, 3]
MAX_TOKENS = 96


@pytest.fixture(scope="module")
def server():
    """32 streams of ~130 tokens need ~4,200 tokens of KV: 256 MiB (11,600 tokens) keeps them
    all resident (the shared 64 MiB setting would preempt and recompute under load)."""
    s = Server(["--kv-cache-bytes=256MiB", "--swap-space=0", "--threads=2"])
    yield s
    s.stop()


def ask(client, **kwargs):
    return client.complete(timeout=300, **kwargs)[0]


def run_all(client, jobs, workers=32):
    """Runs the request kwargs in `jobs` concurrently (they share the server's batches)."""
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda kw: ask(client, **kw), jobs))


def signal_chat(what):
    return [("system", "You answer with JSON only."), ("user", f"Give {what} as JSON.")]


def test_schema_corpus_outputs_validate(server):
    assert len(corpus.SCHEMAS) >= 50
    jobs, keys = [], []
    for i, schema in enumerate(corpus.SCHEMAS):
        for seed in SEEDS:
            jobs.append(dict(chat=signal_chat(schema.get("title", f"example {i}")),
                             json_schema=schema, temperature=1.0, seed=seed,
                             max_tokens=MAX_TOKENS))
            keys.append((i, seed))
    results = run_all(server.client, jobs)
    unmet = []
    for (i, seed), r in zip(keys, results):
        schema = corpus.SCHEMAS[i]
        if r.finish_reason == FinishReason.CONSTRAINT_UNMET:
            # Honest: an unmet output really does not satisfy the schema.
            with pytest.raises((json.JSONDecodeError, jsonschema.ValidationError)):
                jsonschema.validate(json.loads(r.text), schema)
            unmet.append((i, seed, r.text))
            continue
        assert r.finish_reason in (FinishReason.STOP, FinishReason.LENGTH), (i, seed)
        try:
            doc = json.loads(r.text)
        except json.JSONDecodeError as e:
            pytest.fail(f"schema {i} seed {seed}: not JSON ({e}): {r.text!r}")
        try:
            jsonschema.validate(doc, schema)
        except jsonschema.ValidationError as e:
            pytest.fail(f"schema {i} seed {seed}: invalid ({e.message}): {r.text!r}")
    # The model may ramble inside a long string until max_tokens; that must stay rare.
    assert len(unmet) <= len(results) // 10, unmet


def test_regex_outputs_fullmatch(server):
    jobs, keys = [], []
    for pattern in corpus.REGEXES:
        for seed in SEEDS:
            jobs.append(dict(text="Example: ", regex=pattern, temperature=1.0, seed=seed,
                             max_tokens=48))
            keys.append((pattern, seed))
    for (pattern, seed), r in zip(keys, run_all(server.client, jobs)):
        assert r.finish_reason == FinishReason.STOP, (pattern, seed, r.text)
        assert re.fullmatch(pattern, r.text), (pattern, seed, r.text)


def test_choice_outputs_are_one_of_the_choices(server):
    choices = ["buy", "sell", "hold", "buy more"]
    jobs = [dict(chat=[("user", "Should I buy AAPL?")], choice=choices, temperature=1.0,
                 seed=seed, max_tokens=8) for seed in range(6)]
    for r in run_all(server.client, jobs):
        assert r.finish_reason == FinishReason.STOP
        assert r.text in choices


class ExprParser:
    """Recursive descent over corpus.EXPR_GRAMMAR, independent of Hearth's matcher."""

    def __init__(self, text):
        self.t, self.i = text, 0

    def parse(self):
        self.expr()
        return self.i == len(self.t)

    def ws(self):
        if self.t.startswith(" ", self.i):
            self.i += 1

    def expr(self):
        self.term()
        for _ in range(2):
            save = self.i
            self.ws()
            if self.i < len(self.t) and self.t[self.i] in "+-":
                self.i += 1
                self.ws()
                self.term()
            else:
                self.i = save
                return

    def term(self):
        self.factor()
        for _ in range(1):
            save = self.i
            self.ws()
            if self.i < len(self.t) and self.t[self.i] in "*/":
                self.i += 1
                self.ws()
                self.factor()
            else:
                self.i = save
                return

    def factor(self):
        m = re.compile(r"[0-9]{1,3}").match(self.t, self.i)
        if m:
            self.i = m.end()
            return
        if not self.t.startswith("(", self.i):
            raise ValueError(f"expected a number or '(' at {self.i}")
        self.i += 1
        self.ws()
        self.expr()
        self.ws()
        if not self.t.startswith(")", self.i):
            raise ValueError(f"expected ')' at {self.i}")
        self.i += 1


def parse_kv(text):
    """corpus.KV_GRAMMAR by hand: 1 to 4 `key=value` pairs separated by ';'."""
    i, count = 0, 0
    while True:
        m = re.compile(r"[a-z][a-z_]{0,7}=").match(text, i)
        assert m, (text, i)
        i = m.end()
        if text.startswith('"', i):
            j = text.find('"', i + 1)
            assert j > 0, text
            inner = text[i + 1:j]
            assert len(inner) <= 12 and "\n" not in inner, text
            i = j + 1
        else:
            m = re.compile(r"[0-9]{1,4}").match(text, i)
            assert m, (text, i)
            i = m.end()
        count += 1
        if i == len(text):
            break
        assert text[i] == ";", (text, i)
        i += 1
    assert 1 <= count <= 4, text


def test_grammar_outputs_parse_with_an_independent_parser(server):
    jobs = [dict(text="Compute: 2 + 3 * 4 = 14. Compute: ", grammar=corpus.EXPR_GRAMMAR,
                 temperature=1.0, seed=s, max_tokens=64) for s in SEEDS] + \
           [dict(text="Settings: ", grammar=corpus.KV_GRAMMAR, temperature=1.0, seed=s,
                 max_tokens=64) for s in SEEDS]
    results = run_all(server.client, jobs)
    for r in results[:len(SEEDS)]:
        if r.finish_reason == FinishReason.STOP:
            assert ExprParser(r.text).parse(), r.text
        else:
            assert r.finish_reason == FinishReason.CONSTRAINT_UNMET, r.text
    for r in results[len(SEEDS):]:
        assert r.finish_reason == FinishReason.STOP, r.text
        parse_kv(r.text)
    assert sum(r.finish_reason == FinishReason.STOP for r in results[:len(SEEDS)]) >= 2


def test_greedy_output_is_unchanged_when_it_already_satisfies(server):
    prompts = [[("user", "Say hello.")], [("user", "Name a color.")],
               [("user", "Return {\"a\": 1} exactly.")], signal_chat("a trading signal")]
    checked = 0
    for chat in prompts:
        free = ask(server.client, chat=chat, temperature=0, max_tokens=64)
        if free.finish_reason != FinishReason.STOP:
            continue
        constraints = [dict(regex=r"[\s\S]*"), dict(choice=[free.text, free.text + "!"])]
        try:
            if isinstance(json.loads(free.text), dict):
                constraints.append(dict(json_object=True))
        except json.JSONDecodeError:
            pass
        for c in constraints:
            r = ask(server.client, chat=chat, temperature=0, max_tokens=64, **c)
            assert r.token_ids == free.token_ids, (chat, c, r.text, free.text)
            assert r.finish_reason == FinishReason.STOP
            checked += 1
    assert checked >= 6


def test_seeded_constrained_sampling_is_reproducible_under_load(server):
    job = dict(chat=signal_chat("a trading signal"), json_schema=corpus.SIGNAL,
               temperature=1.0, seed=1234, max_tokens=MAX_TOKENS)
    alone = ask(server.client, **job)
    # The same request among constrained and unconstrained neighbours in shared batches.
    load = [dict(text=f"Story {i}:", temperature=1.0, seed=i, max_tokens=64) for i in range(12)]
    load += [dict(chat=signal_chat(f"signal {i}"), json_schema=corpus.SCHEMAS[i],
                  temperature=1.0, seed=i, max_tokens=64) for i in range(12)]
    jobs = load[:12] + [job] + load[12:] + [job]
    results = run_all(server.client, jobs)
    for r in (results[12], results[-1]):
        assert r.token_ids == alone.token_ids
        assert r.text == alone.text


def test_unsatisfiable_within_max_tokens_finishes_constraint_unmet(server):
    schema = {"type": "object", "properties": {"essay": {"type": "string", "minLength": 200}},
              "required": ["essay"]}
    r = ask(server.client, chat=signal_chat("an essay"), json_schema=schema, temperature=1.0,
            seed=5, max_tokens=8)
    assert r.finish_reason == FinishReason.CONSTRAINT_UNMET
    assert r.usage.completion_tokens == 8
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)
    # The same in a streamed, n > 1 request: every sample says so.
    rs = server.client.complete(chat=signal_chat("an essay"), json_schema=schema, n=2,
                                temperature=1.0, seed=5, max_tokens=8, timeout=60)
    assert [c.finish_reason for c in rs] == [FinishReason.CONSTRAINT_UNMET] * 2


@pytest.mark.parametrize("kwargs, want", [
    (dict(json_schema="{\"type\": \"object\",}"), "constraint.json_schema: invalid JSON at byte"),
    (dict(json_schema={"type": "number", "minimum": 0}),
     "constraint.json_schema: at /: unsupported keyword 'minimum'"),
    (dict(json_schema={"properties": {"a": {"$ref": "#/$defs/b"}}}),
     "constraint.json_schema: at /properties/a/$ref: reference '#/$defs/b' does not resolve"),
    (dict(json_schema={"properties": {"a": {"type": "string", "pattern": "a(b"}}}),
     "constraint.json_schema: at /properties/a/pattern: offset 1: missing ')'"),
    (dict(regex="ab[c"), "constraint.regex: offset 2: unterminated character set"),
    (dict(regex="(?=x)y"), "constraint.regex: offset 0: lookaround assertions are not supported"),
    (dict(grammar="root ::= \"a\"\nitem ::= [0-9"),
     "constraint.grammar: line 2 column 10: unterminated character class"),
    (dict(grammar="root ::= value"), "constraint.grammar: line 1 column 10: rule 'value' is used"),
    (dict(grammar="root ::= root \"x\" | \"y\""), "constraint.grammar: rule 'root' is left-recursive"),
    (dict(json_schema=corpus.SIGNAL, ignore_eos=True), "ignore_eos cannot be combined"),
    (dict(json_schema=corpus.SIGNAL, stop=["}"]), "stop strings cannot be combined"),
    (dict(regex="a+", min_tokens=2), "min_tokens cannot be combined"),
])
def test_bad_constraints_are_invalid_argument_before_queueing(server, kwargs, want):
    before = server.client.model_info()
    with pytest.raises(grpc.RpcError) as e:
        ask(server.client, text="hi", max_tokens=4, **kwargs)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert want in e.value.details()
    after = server.client.model_info()
    assert after.num_requests_waiting == before.num_requests_waiting == 0


def test_empty_choice_and_false_json_object_are_rejected(server):
    req = pb.GenerateRequest(text="hi")
    req.choice.SetInParent()
    with pytest.raises(grpc.RpcError) as e:
        list(server.client.generate(req, timeout=30))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "constraint.choice" in e.value.details()
    req = pb.GenerateRequest(text="hi", json_object=False)
    with pytest.raises(grpc.RpcError) as e:
        list(server.client.generate(req, timeout=30))
    assert "constraint.json_object: must be true" in e.value.details()
