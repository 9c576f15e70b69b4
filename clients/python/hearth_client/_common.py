"""What the blocking and asyncio clients share: requests, results, channel targets and the
service config (load balancing, health checking, retries)."""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import json
import socket
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

import grpc

from hearth_client._proto.hearth.v1 import hearth_pb2 as pb

# A chat message: ("user", "Hi") or {"role": "user", "content": "Hi"}.
ChatMessage = Union[Tuple[str, str], Mapping[str, str]]
# One gRPC target ("127.0.0.1:50051", "dns:///hearth-grpc.default.svc:50051"), several
# "host:port" separated by commas, or a list of them.
Targets = Union[str, Sequence[str]]

_SAMPLING_FIELDS = {f.name for f in pb.SamplingParams.DESCRIPTOR.fields}
# The server's hint in the trailing metadata of RESOURCE_EXHAUSTED (waiting queue full).
RETRY_PUSHBACK_KEY = "grpc-retry-pushback-ms"
# gRPC caps a retry policy at 5 attempts.
MAX_RETRIES = 4


class FinishReason(str, enum.Enum):
    """Why a sample ended; compares equal to its name in lower case ("stop", ...)."""

    UNSPECIFIED = "unspecified"
    STOP = "stop"  # EOS, a stop token or a stop string
    LENGTH = "length"  # max_tokens or the context length
    ABORT = "abort"  # aborted by the server (shutdown grace period over)
    # Structured output: max_tokens (or the context) ran out before the output matched
    CONSTRAINT_UNMET = "constraint_unmet"

    @classmethod
    def from_proto(cls, value: int) -> "FinishReason":
        return {pb.FINISH_REASON_STOP: cls.STOP, pb.FINISH_REASON_LENGTH: cls.LENGTH,
                pb.FINISH_REASON_ABORT: cls.ABORT,
                pb.FINISH_REASON_CONSTRAINT_UNMET: cls.CONSTRAINT_UNMET}.get(
                    value, cls.UNSPECIFIED)

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


def build_request(text: Optional[str] = None, token_ids: Optional[Sequence[int]] = None,
                  chat: Optional[Sequence[ChatMessage]] = None, model: str = "",
                  request_id: str = "", priority: int = 0,
                  add_generation_prompt: Optional[bool] = None,
                  json_schema: Union[str, Mapping[str, Any], None] = None,
                  json_object: bool = False, regex: Optional[str] = None,
                  choice: Optional[Sequence[str]] = None, grammar: Optional[str] = None,
                  **sampling: Any) -> pb.GenerateRequest:
    """A GenerateRequest from keyword arguments. Exactly one of text, token_ids or chat is
    given; other keywords are SamplingParams fields (temperature=0, max_tokens=32,
    stop=["\\n"], ...). At most one constraint (structured output): json_schema (a dict or
    JSON text), json_object=True, regex, choice (a list of strings) or grammar (GBNF text)."""
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
            role, content = (m["role"], m["content"]) if isinstance(m, Mapping) else m
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
    token_ids: List[int] = dataclasses.field(default_factory=list)
    finish_reason: FinishReason = FinishReason.UNSPECIFIED
    stop_reason: str = ""
    usage: Optional[pb.Usage] = None
    logprobs: List[pb.TokenLogprob] = dataclasses.field(default_factory=list)


def accumulate(completions: List[Completion], msg: pb.GenerateResponse) -> None:
    while len(completions) <= msg.index:
        completions.append(Completion())
    c = completions[msg.index]
    c.text += msg.text
    c.token_ids.extend(msg.token_ids)
    c.logprobs.extend(msg.logprobs)
    if msg.finish_reason != pb.FINISH_REASON_UNSPECIFIED:
        c.finish_reason = FinishReason.from_proto(msg.finish_reason)
        c.stop_reason = msg.stop_reason
        c.usage = msg.usage


def retry_after(error: grpc.RpcError) -> Optional[float]:
    """Seconds the server asked to wait before retrying (RESOURCE_EXHAUSTED), or None."""
    trailing = getattr(error, "trailing_metadata", None)
    for key, value in (trailing() if callable(trailing) else None) or ():
        if key == RETRY_PUSHBACK_KEY:
            try:
                return max(0.0, int(value) / 1000.0)
            except ValueError:
                return None
    return None


_URI_SCHEMES = ("dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "vsock:")


def _split_targets(targets: Targets) -> List[str]:
    if isinstance(targets, str):
        if targets.startswith(_URI_SCHEMES):
            return [targets]  # a gRPC URI: passed through as is
        return [t.strip() for t in targets.split(",") if t.strip()]
    return [str(t) for t in targets]


def _addresses(host_port: str) -> List[str]:
    """"host:port" -> the IP literals it names ("[v6]:port" for IPv6)."""
    host, sep, port = host_port.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"target {host_port!r}: want HOST:PORT")
    host = host.strip("[]")
    try:
        ips = [str(ipaddress.ip_address(host))]
    except ValueError:
        infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
        ips = sorted({info[4][0] for info in infos})
    return [f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}" for ip in ips]


def channel_target(targets: Targets) -> Tuple[str, int]:
    """The gRPC target for one or several servers, and how many addresses it names (0: left
    to gRPC's resolver). Several servers become one ipv4:/ipv6: target over which the channel
    balances round-robin; host names in a list are resolved once, here (for a set that
    changes, pass one "dns:///name:port" target, which gRPC re-resolves)."""
    parts = _split_targets(targets)
    if not parts:
        raise ValueError("no target given")
    if len(parts) == 1:
        return parts[0], 0
    addresses = [a for p in parts for a in _addresses(p)]
    v6 = [a.startswith("[") for a in addresses]
    if any(v6) and not all(v6):
        raise ValueError(f"targets mix IPv4 and IPv6 addresses: {addresses}")
    return ("ipv6:" if all(v6) else "ipv4:") + ",".join(addresses), len(addresses)


def channel_options(several: bool, retries: int,
                    health_check: Optional[bool]) -> List[Tuple[str, Any]]:
    """The service config: round-robin over every address the target names; with health
    checking (default: when several servers are given) a replica whose health turns
    NOT_SERVING (draining) gets no new calls; with retries, a call refused before its first
    message with RESOURCE_EXHAUSTED or UNAVAILABLE is sent again (to the next replica), after
    the server's retry-after hint when it gave one."""
    if not 0 <= retries <= MAX_RETRIES:
        raise ValueError(f"retries must be in [0, {MAX_RETRIES}], got {retries}")
    config: dict = {"loadBalancingConfig": [{"round_robin": {}}]}
    if several if health_check is None else health_check:
        config["healthCheckConfig"] = {"serviceName": ""}
    if retries > 0:
        config["methodConfig"] = [{
            "name": [{"service": "hearth.v1.Hearth"}],
            "retryPolicy": {
                "maxAttempts": retries + 1, "initialBackoff": "0.1s", "maxBackoff": "5s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["RESOURCE_EXHAUSTED", "UNAVAILABLE"]}}]
    return [("grpc.service_config", json.dumps(config)), ("grpc.enable_retries", 1)]
