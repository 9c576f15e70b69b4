"""Python client of the Hearth gRPC API (hearth.v1.Hearth).

    from hearth_client import HearthClient
    with HearthClient("127.0.0.1:50051") as client:
        for msg in client.generate(text="Once upon a time", max_tokens=32, temperature=0):
            print(msg.text, end="", flush=True)

`pb` and `pb_grpc` are the generated modules (hearth.v1's hearth_pb2 / hearth_pb2_grpc),
built with the package (hearth_client/_proto).
"""

from hearth_client._common import (Completion, FinishReason, build_request, channel_options,
                                   channel_target, retry_after)
from hearth_client._proto.hearth.v1 import hearth_pb2 as pb
from hearth_client._proto.hearth.v1 import hearth_pb2_grpc as pb_grpc
from hearth_client.aio import AsyncHearthClient
from hearth_client.client import HearthClient

__all__ = ["pb", "pb_grpc", "HearthClient", "AsyncHearthClient", "Completion", "FinishReason",
           "build_request", "retry_after", "channel_target", "channel_options"]
