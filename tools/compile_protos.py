"""Compile fashion_tf_client's .proto files into the descriptor set the client loads.

    python tools/compile_protos.py            # rewrite fashion_tf_client/protos/serving_apis.binpb
    python tools/compile_protos.py --check    # exit 1 when the committed file is stale

The client builds its message classes from this FileDescriptorSet at import time
(``fashion_tf_client.messages``), so it needs only the protobuf runtime, not protoc,
TensorFlow or tensorflow-serving-api. Needs ``protoc`` on PATH (Debian:
``apt-get install protobuf-compiler``).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "fashion_tf_client" / "protos"
ENTRIES = ("fashion_tf_client/protos/serving_apis.proto",  # imports tensor, signature, error_codes
           "fashion_tf_client/protos/batching.proto")
OUT = PROTO_DIR / "serving_apis.binpb"


def compile_descriptor_set(protoc: str = "protoc") -> bytes:
    """The FileDescriptorSet of the .proto files (with their imports), as protoc writes it."""
    if shutil.which(protoc) is None:
        raise FileNotFoundError(f"{protoc} not found on PATH (Debian: apt-get install protobuf-compiler)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.binpb"
        subprocess.run([protoc, "-I", str(ROOT), "--include_imports", f"--descriptor_set_out={out}", *ENTRIES],
                       cwd=ROOT, check=True)
        return out.read_bytes()


def project_files(data: bytes) -> dict:
    """{file name: FileDescriptorProto} of this project's own files (google/protobuf/*
    differ between protoc versions and come from the protobuf runtime anyway)."""
    from google.protobuf import descriptor_pb2

    files = descriptor_pb2.FileDescriptorSet.FromString(data).file
    return {f.name: f for f in files if not f.name.startswith("google/protobuf/")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file instead of writing")
    args = parser.parse_args(argv)
    fresh = compile_descriptor_set()
    if args.check:
        if project_files(fresh) != project_files(OUT.read_bytes()):
            print(f"{OUT.relative_to(ROOT)} is stale: run python tools/compile_protos.py", file=sys.stderr)
            return 1
        print(f"{OUT.relative_to(ROOT)} matches the .proto files")
        return 0
    OUT.write_bytes(fresh)
    print(f"wrote {OUT.relative_to(ROOT)} ({len(fresh)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
