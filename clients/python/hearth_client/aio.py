"""The asyncio client: HearthClient's methods, awaitable."""

from __future__ import annotations

from typing import Any, AsyncIterator, List, Optional

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hearth_client._common import (Completion, Targets, accumulate, build_request,
                                   channel_options, channel_target)
from hearth_client._proto.hearth.v1 import hearth_pb2 as pb
from hearth_client._proto.hearth.v1 import hearth_pb2_grpc as pb_grpc


class AsyncHearthClient:
    """asyncio client (grpc.aio) with the same methods and arguments as HearthClient; every
    method is a coroutine except generate(), which returns the call at once (an async
    iterator of GenerateResponse with .cancel()). Create it inside the running event loop."""

    def __init__(self, targets: Targets = "127.0.0.1:50051", timeout: Optional[float] = None,
                 channel: Optional[grpc.aio.Channel] = None, retries: int = 2,
                 health_check: Optional[bool] = None) -> None:
        if channel is None:
            target, count = channel_target(targets)
            channel = grpc.aio.insecure_channel(
                target, options=channel_options(count > 1, retries, health_check))
        self.channel: grpc.aio.Channel = channel
        self.stub = pb_grpc.HearthStub(self.channel)
        self.health_stub = health_pb2_grpc.HealthStub(self.channel)
        self.timeout = timeout

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> "AsyncHearthClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def _t(self, timeout: Optional[float]) -> Optional[float]:
        return self.timeout if timeout is None else timeout

    def generate(self, request: Optional[pb.GenerateRequest] = None,
                 timeout: Optional[float] = None,
                 **kwargs: Any) -> AsyncIterator[pb.GenerateResponse]:
        """Streams GenerateResponse messages: `async for msg in client.generate(...)`."""
        return self.stub.Generate(request or build_request(**kwargs), timeout=self._t(timeout))

    async def complete(self, request: Optional[pb.GenerateRequest] = None,
                       timeout: Optional[float] = None, **kwargs: Any) -> List[Completion]:
        completions: List[Completion] = []
        async for msg in self.generate(request, timeout=timeout, **kwargs):
            accumulate(completions, msg)
        return completions

    async def tokenize(self, text: str, add_special_tokens: bool = False,
                       parse_special_tokens: bool = False, model: str = "",
                       timeout: Optional[float] = None) -> List[int]:
        resp = await self.stub.Tokenize(pb.TokenizeRequest(
            model=model, text=text, add_special_tokens=add_special_tokens,
            parse_special_tokens=parse_special_tokens), timeout=self._t(timeout))
        return list(resp.token_ids)

    async def detokenize(self, token_ids: List[int], skip_special_tokens: bool = False,
                         model: str = "", timeout: Optional[float] = None) -> str:
        resp = await self.stub.Detokenize(pb.DetokenizeRequest(
            model=model, token_ids=token_ids, skip_special_tokens=skip_special_tokens),
            timeout=self._t(timeout))
        return resp.text

    async def list_models(self, timeout: Optional[float] = None) -> List[pb.ModelCard]:
        resp = await self.stub.ListModels(pb.ListModelsRequest(), timeout=self._t(timeout))
        return list(resp.models)

    async def model_info(self, model: str = "",
                         timeout: Optional[float] = None) -> pb.ModelInfoResponse:
        return await self.stub.ModelInfo(pb.ModelInfoRequest(model=model),
                                         timeout=self._t(timeout))

    async def health(self, service: str = "", timeout: Optional[float] = None) -> str:
        resp = await self.health_stub.Check(health_pb2.HealthCheckRequest(service=service),
                                            timeout=self._t(timeout))
        return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
