"""The standard grpc.health.v1 service and server reflection, with the stock Python clients."""

import grpc
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase)


def test_health_serving(server):
    with grpc.insecure_channel(server.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ["", "hearth.v1.Hearth"]:
            resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()
        try:
            stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
            raise AssertionError("expected NOT_FOUND")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_describes_the_api(server):
    with grpc.insecure_channel(server.target) as channel:
        db = ProtoReflectionDescriptorDatabase(channel)
        services = set(db.get_services())
        assert {"hearth.v1.Hearth", "grpc.health.v1.Health"} <= services, services
        pool = descriptor_pool.DescriptorPool(db)
        svc = pool.FindServiceByName("hearth.v1.Hearth")
        assert {m.name for m in svc.methods} == {"Generate", "Tokenize", "Detokenize",
                                                 "ListModels", "ModelInfo"}
        gen = svc.methods_by_name["Generate"]
        assert gen.output_type.full_name == "hearth.v1.GenerateResponse"
        assert "temperature" in pool.FindMessageTypeByName(
            "hearth.v1.SamplingParams").fields_by_name
