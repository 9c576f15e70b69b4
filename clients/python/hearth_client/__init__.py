"""Python client of the Hearth gRPC API (hearth.v1.Hearth).

    from hearth_client import HearthClient
    with HearthClient("127.0.0.1:50051") as client:
        for msg in client.generate(text="Once upon a time", max_tokens=32, temperature=0):
            print(msg.text, end="", flush=True)

`pb` and `pb_grpc` are the generated modules (hearth.v1.hearth_pb2 / _pb2_grpc).
"""

from hearth_client._codegen import ensure_generated

ensure_generated()

from hearth.v1 import hearth_pb2 as pb  # noqa: E402
from hearth.v1 import hearth_pb2_grpc as pb_grpc  # noqa: E402

from hearth_client.client import (  # noqa: E402
    AsyncHearthClient,
    Completion,
    HearthClient,
    build_request,
)

__all__ = ["pb", "pb_grpc", "HearthClient", "AsyncHearthClient", "Completion", "build_request"]
