"""Thin sync and asyncio helpers over the generated stubs."""

import dataclasses
import json

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hearth.v1 import hearth_pb2 as pb
from hearth.v1 import hearth_pb2_grpc as pb_grpc

_SAMPLING_FIELDS = {f.name for f in pb.SamplingParams.DESCRIPTOR.fields}


def build_request(text=None, token_ids=None, chat=None, model="", request_id="", priority=0,
                  add_generation_prompt=None, json_schema=None, json_object=False, regex=None,
                  choice=None, grammar=None, **sampling):
    """A GenerateRequest from keyword arguments. Exactly one of text, token_ids (a list of ints)
    or chat (a list of (role, content) pairs or dicts) is given; other keywords are
    SamplingParams fields (temperature=0, max_tokens=32, stop=["\\n"], ...). At most one
    constraint (structured output): json_schema (a dict or JSON text), json_object=True, regex,
    choice (a list of strings) or grammar (GBNF text)."""
    unknown = set(sampling) - _SAMPLING_FIELDS
    if unknown:
        raise TypeError(f"unknown sampling fields: {sorted(unknown)}")
    req = pb.GenerateRequest(model=model, request_id=request_id, priority=priority,
                             sampling=pb.SamplingParams(**sampling))
    if text is not None:
        req.text = text
    elif token_ids is not None:
        req.token_ids.ids.extend(token_ids)
    elif chat is not None:
        for m in chat:
            role, content = (m["role"], m["content"]) if isinstance(m, dict) else m
            req.chat.messages.add(role=role, content=content)
        if add_generation_prompt is not None:
            req.chat.add_generation_prompt = add_generation_prompt
    if json_schema is not None:
        req.json_schema = json_schema if isinstance(json_schema, str) else json.dumps(json_schema)
    elif json_object:
        req.json_object = True
    elif regex is not None:
        req.regex = regex
    elif choice is not None:
        req.choice.values.extend(choice)
    elif grammar is not None:
        req.grammar = grammar
    return req


@dataclasses.dataclass
class Completion:
    """One sample, accumulated from its stream messages."""
    text: str = ""
    token_ids: list = dataclasses.field(default_factory=list)
    finish_reason: int = pb.FINISH_REASON_UNSPECIFIED
    stop_reason: str = ""
    usage: object = None


def _accumulate(completions, msg):
    while len(completions) <= msg.index:
        completions.append(Completion())
    c = completions[msg.index]
    c.text += msg.text
    c.token_ids.extend(msg.token_ids)
    if msg.finish_reason != pb.FINISH_REASON_UNSPECIFIED:
        c.finish_reason = msg.finish_reason
        c.stop_reason = msg.stop_reason
        c.usage = msg.usage


class HearthClient:
    """Blocking client. `timeout` (seconds) is each call's deadline unless given per call."""

    def __init__(self, target, timeout=None, channel=None):
        self.channel = channel or grpc.insecure_channel(target)
        self.stub = pb_grpc.HearthStub(self.channel)
        self.health_stub = health_pb2_grpc.HealthStub(self.channel)
        self.timeout = timeout

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _t(self, timeout):
        return self.timeout if timeout is None else timeout

    def generate(self, request=None, timeout=None, **kwargs):
        """Streams GenerateResponse messages (a grpc call object: iterate it, or .cancel())."""
        return self.stub.Generate(request or build_request(**kwargs), timeout=self._t(timeout))

    def complete(self, request=None, timeout=None, **kwargs):
        """Runs a generation to its end: one Completion per sample."""
        completions = []
        for msg in self.generate(request, timeout=timeout, **kwargs):
            _accumulate(completions, msg)
        return completions

    def tokenize(self, text, add_special_tokens=False, parse_special_tokens=False, model=""):
        return list(self.stub.Tokenize(pb.TokenizeRequest(
            model=model, text=text, add_special_tokens=add_special_tokens,
            parse_special_tokens=parse_special_tokens), timeout=self.timeout).token_ids)

    def detokenize(self, token_ids, skip_special_tokens=False, model=""):
        return self.stub.Detokenize(pb.DetokenizeRequest(
            model=model, token_ids=token_ids, skip_special_tokens=skip_special_tokens),
            timeout=self.timeout).text

    def list_models(self):
        return list(self.stub.ListModels(pb.ListModelsRequest(), timeout=self.timeout).models)

    def model_info(self, model=""):
        return self.stub.ModelInfo(pb.ModelInfoRequest(model=model), timeout=self.timeout)

    def health(self, service=""):
        """The health status name: "SERVING", "NOT_SERVING", ..."""
        resp = self.health_stub.Check(health_pb2.HealthCheckRequest(service=service),
                                      timeout=self.timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)


class AsyncHearthClient:
    """asyncio client (grpc.aio)."""

    def __init__(self, target, timeout=None):
        self.channel = grpc.aio.insecure_channel(target)
        self.stub = pb_grpc.HearthStub(self.channel)
        self.timeout = timeout

    async def close(self):
        await self.channel.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    def generate(self, request=None, timeout=None, **kwargs):
        """An async iterator of GenerateResponse messages (the call object)."""
        return self.stub.Generate(request or build_request(**kwargs),
                                  timeout=self.timeout if timeout is None else timeout)

    async def complete(self, request=None, timeout=None, **kwargs):
        completions = []
        async for msg in self.generate(request, timeout=timeout, **kwargs):
            _accumulate(completions, msg)
        return completions

    async def model_info(self, model=""):
        return await self.stub.ModelInfo(pb.ModelInfoRequest(model=model), timeout=self.timeout)
