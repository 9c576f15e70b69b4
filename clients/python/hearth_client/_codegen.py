"""Generates the protobuf / gRPC Python modules of hearth.v1 with grpcio-tools.

The generated code is not committed: it is written on first import into hearth_client/_gen/
(git-ignored) and regenerated when the .proto is newer. Run `python -m hearth_client._codegen`
to (re)generate by hand. The proto is found at $HEARTH_PROTO_DIR, else at ../../proto relative
to this package (the repository layout).
"""

import os
import shutil
import sys
import tempfile

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
GEN_DIR = os.path.join(_PACKAGE_DIR, "_gen")
_PROTO_REL = os.path.join("hearth", "v1", "hearth.proto")


def proto_dir():
    env = os.environ.get("HEARTH_PROTO_DIR")
    if env:
        return env
    return os.path.normpath(os.path.join(_PACKAGE_DIR, "..", "..", "..", "proto"))


def _stale():
    out = os.path.join(GEN_DIR, "hearth", "v1", "hearth_pb2_grpc.py")
    src = os.path.join(proto_dir(), _PROTO_REL)
    if not os.path.exists(out):
        return True
    return os.path.exists(src) and os.path.getmtime(src) > os.path.getmtime(out)


def generate():
    """Runs protoc into a temporary folder, then moves it into place (safe under races)."""
    from grpc_tools import protoc  # imported lazily: only needed to generate

    src_dir = proto_dir()
    if not os.path.exists(os.path.join(src_dir, _PROTO_REL)):
        raise FileNotFoundError(f"hearth.proto not found under {src_dir} (set HEARTH_PROTO_DIR)")
    tmp = tempfile.mkdtemp(prefix="_gen.", dir=_PACKAGE_DIR)
    try:
        include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
        rc = protoc.main(["grpc_tools.protoc", f"-I{src_dir}", f"-I{include}",
                          f"--python_out={tmp}", f"--grpc_python_out={tmp}", _PROTO_REL])
        if rc != 0:
            raise RuntimeError(f"grpc_tools.protoc failed with {rc}")
        for d in (os.path.join(tmp, "hearth"), os.path.join(tmp, "hearth", "v1")):
            open(os.path.join(d, "__init__.py"), "a").close()
        old = GEN_DIR + f".old.{os.getpid()}"
        if os.path.exists(GEN_DIR):
            os.rename(GEN_DIR, old)
        os.rename(tmp, GEN_DIR)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_generated():
    """Generates when missing or stale and puts _gen on sys.path (the modules import
    `hearth.v1.hearth_pb2`)."""
    if _stale():
        generate()
    if GEN_DIR not in sys.path:
        sys.path.insert(0, GEN_DIR)


if __name__ == "__main__":
    generate()
    print(f"generated into {GEN_DIR}")
