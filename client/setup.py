"""The thin client alone: ``pip install ./client`` installs fashion_tf_client with
grpcio, protobuf and numpy, and no TensorFlow (the full package ships it too)."""
from pathlib import Path

from setuptools import setup

SOURCE = Path(__file__).resolve().parent.parent / "fashion_tf_client"

setup(
    name="fashion_tf_client",
    version="0.1.0",
    description="Thin client for fashion_tf models served by TensorFlow Serving (no TensorFlow needed)",
    python_requires=">=3.10",
    packages=["fashion_tf_client"],
    package_dir={"fashion_tf_client": str(SOURCE)},
    package_data={"fashion_tf_client": ["protos/*.proto", "protos/*.binpb"]},
    install_requires=["grpcio>=1.60", "protobuf>=5.26", "numpy>=1.24"],
)
