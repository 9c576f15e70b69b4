"""The blocking client."""

from __future__ import annotations

from typing import Any, Iterator, List, Optional

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hearth_client._common import (Completion, Targets, accumulate, build_request,
                                   channel_options, channel_target)
from hearth_client._proto.hearth.v1 import hearth_pb2 as pb
from hearth_client._proto.hearth.v1 import hearth_pb2_grpc as pb_grpc


class HearthClient:
    """Blocking client of hearth.v1.Hearth.

    `targets`: "host:port", several as "h1:p1,h2:p2" or a list (round-robin over them, with
    health checking, so a draining replica gets no new calls), or any gRPC target URI.
    `timeout`: each call's deadline in seconds unless given per call (None: no deadline).
    `retries` (0-4): calls refused before their first message with RESOURCE_EXHAUSTED (queue
    full; the server's retry-after hint is honored) or UNAVAILABLE (a replica draining or
    gone) are sent again, by gRPC's retry policy. 0 surfaces every such error.
    `health_check`: watch each replica's health (default: when several targets are given).
    """

    def __init__(self, targets: Targets = "127.0.0.1:50051", timeout: Optional[float] = None,
                 channel: Optional[grpc.Channel] = None, retries: int = 2,
                 health_check: Optional[bool] = None) -> None:
        if channel is None:
            target, count = channel_target(targets)
            channel = grpc.insecure_channel(
                target, options=channel_options(count > 1, retries, health_check))
        self.channel: grpc.Channel = channel
        self.stub = pb_grpc.HearthStub(self.channel)
        self.health_stub = health_pb2_grpc.HealthStub(self.channel)
        self.timeout = timeout

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "HearthClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _t(self, timeout: Optional[float]) -> Optional[float]:
        return self.timeout if timeout is None else timeout

    def generate(self, request: Optional[pb.GenerateRequest] = None,
                 timeout: Optional[float] = None, **kwargs: Any) -> Iterator[pb.GenerateResponse]:
        """Streams GenerateResponse messages. The result is gRPC's call object: iterate it, or
        .cancel() it (the server aborts the request and frees its KV cache). Keywords are
        build_request's (text= / token_ids= / chat=, then SamplingParams fields)."""
        return self.stub.Generate(request or build_request(**kwargs), timeout=self._t(timeout))

    def complete(self, request: Optional[pb.GenerateRequest] = None,
                 timeout: Optional[float] = None, **kwargs: Any) -> List[Completion]:
        """Runs a generation to its end: one Completion per sample."""
        completions: List[Completion] = []
        for msg in self.generate(request, timeout=timeout, **kwargs):
            accumulate(completions, msg)
        return completions

    def tokenize(self, text: str, add_special_tokens: bool = False,
                 parse_special_tokens: bool = False, model: str = "",
                 timeout: Optional[float] = None) -> List[int]:
        return list(self.stub.Tokenize(pb.TokenizeRequest(
            model=model, text=text, add_special_tokens=add_special_tokens,
            parse_special_tokens=parse_special_tokens), timeout=self._t(timeout)).token_ids)

    def detokenize(self, token_ids: List[int], skip_special_tokens: bool = False,
                   model: str = "", timeout: Optional[float] = None) -> str:
        return self.stub.Detokenize(pb.DetokenizeRequest(
            model=model, token_ids=token_ids, skip_special_tokens=skip_special_tokens),
            timeout=self._t(timeout)).text

    def list_models(self, timeout: Optional[float] = None) -> List[pb.ModelCard]:
        return list(self.stub.ListModels(pb.ListModelsRequest(), timeout=self._t(timeout)).models)

    def model_info(self, model: str = "",
                   timeout: Optional[float] = None) -> pb.ModelInfoResponse:
        return self.stub.ModelInfo(pb.ModelInfoRequest(model=model), timeout=self._t(timeout))

    def health(self, service: str = "", timeout: Optional[float] = None) -> str:
        """The health status name: "SERVING", "NOT_SERVING", ..."""
        resp = self.health_stub.Check(health_pb2.HealthCheckRequest(service=service),
                                      timeout=self._t(timeout))
        return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
