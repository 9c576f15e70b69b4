"""Builds hearth-client. The hearth.v1 protobuf / gRPC modules and their .pyi type stubs are
generated from proto/hearth/v1/hearth.proto with grpcio-tools while the package is built, into
the built package (hearth_client/_proto/), never into the source tree and never at import time.

The proto is found at $HEARTH_PROTO_DIR, else ./proto (an sdist carries a copy), else
../../proto (the repository layout).
"""

import os
import shutil
import tempfile

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_REL = os.path.join("hearth", "v1", "hearth.proto")


def proto_dir():
    candidates = [os.environ.get("HEARTH_PROTO_DIR"), os.path.join(HERE, "proto"),
                  os.path.join(HERE, "..", "..", "proto")]
    for d in candidates:
        if d and os.path.exists(os.path.join(d, PROTO_REL)):
            return os.path.abspath(d)
    raise FileNotFoundError(f"{PROTO_REL} not found in {[c for c in candidates if c]}; "
                            "set HEARTH_PROTO_DIR")


def generate(package_dir):
    """Writes hearth_client/_proto/hearth/v1/hearth_pb2{.py,.pyi,_grpc.py} under package_dir."""
    from grpc_tools import protoc

    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    tmp = tempfile.mkdtemp()
    try:
        rc = protoc.main(["grpc_tools.protoc", f"-I{proto_dir()}", f"-I{include}",
                          f"--python_out={tmp}", f"--pyi_out={tmp}", f"--grpc_python_out={tmp}",
                          PROTO_REL])
        if rc != 0:
            raise RuntimeError(f"grpc_tools.protoc failed with exit code {rc}")
        v1 = os.path.join(tmp, "hearth", "v1")
        # The gRPC module imports the messages as a top-level `hearth` package; inside
        # hearth_client._proto the import is relative. (The descriptor keeps its file name
        # hearth/v1/hearth.proto, so reflection and other clients see the same file.)
        grpc_py = os.path.join(v1, "hearth_pb2_grpc.py")
        with open(grpc_py, encoding="utf-8") as f:
            code = f.read()
        fixed = code.replace("from hearth.v1 import hearth_pb2 as", "from . import hearth_pb2 as")
        if fixed == code:
            raise RuntimeError("unexpected import line in the generated hearth_pb2_grpc.py")
        with open(grpc_py, "w", encoding="utf-8") as f:
            f.write(fixed)
        for d in (tmp, os.path.join(tmp, "hearth"), v1):
            open(os.path.join(d, "__init__.py"), "a").close()
        out = os.path.join(package_dir, "_proto")
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildPyWithProto(build_py):
    def run(self):
        # A reused build/ folder (pip builds local projects in place) may hold modules that
        # no longer exist in the source: start the package afresh.
        shutil.rmtree(os.path.join(self.build_lib, "hearth_client"), ignore_errors=True)
        super().run()
        generate(os.path.join(self.build_lib, "hearth_client"))


class SdistWithProto(sdist):
    """Puts a copy of the proto into the sdist, so it builds away from the repository."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        dest = os.path.join(base_dir, "proto", "hearth", "v1")
        os.makedirs(dest, exist_ok=True)
        shutil.copy(os.path.join(proto_dir(), PROTO_REL), dest)


setup(cmdclass={"build_py": BuildPyWithProto, "sdist": SdistWithProto})
