"""fashion_tf: a Keras/TensorFlow model zoo for image-based fashion recommendation.

The stack is pinned as decided in docs/design.md ("Stack"): TensorFlow 2.20 is the newest
TF that scann 1.4.2's TF ops are built for, and TFRS needs Keras 2 (tf-keras).
"""
from setuptools import find_packages, setup

setup(
    name="fashion_tf",
    version="0.1.0",
    description="Keras/TensorFlow model zoo for image-based fashion recommendation",
    python_requires=">=3.11,<3.12",
    # fashion_tf_client: the thin client, importable without TensorFlow (also installable
    # alone: pip install ./client).
    packages=find_packages(include=["fashion_tf", "fashion_tf.*", "fashion_tf_client", "fashion_tf_client.*"]),
    include_package_data=True,
    package_data={"fashion_tf_client": ["protos/*.proto", "protos/*.binpb"], "fashion_tf.web": ["static/*"]},
    install_requires=[
        "tensorflow==2.20.*",
        "tf-keras==2.20.*",
        "tensorflow-recommenders==0.7.7",
        "scann==1.4.2",
        "tensorflow-serving-api==2.20.*",
        "grpcio>=1.60",
        "opencv-python-headless>=4.9",
        "pandas>=2.0",
        "pyarrow>=14",
        "scikit-learn>=1.3",
        "scikit-image>=0.22",
        "matplotlib>=3.7",
        "PyYAML>=6",
        "krippendorff==0.9.0",  # inter-scorer agreement of the OHS (Krippendorff's alpha)
        # The stand-in server's REST API and the web page: a small maintained ASGI toolkit and its server.
        "starlette==1.10.0",
        "uvicorn==0.54.0",
    ],
    extras_require={
        # playwright drives Debian's chromium (apt-get install chromium) in the web page's browser test.
        "dev": ["pytest>=7", "pytest-xdist==3.8.0", "ruff==0.17.6", "playwright==1.65.2", "hypothesis==6.170.17"],
        "bench": ["faiss-cpu==1.15.1", "hnswlib==0.8.0"],
        # Catalog embedding on Apache Beam (tools/embed_catalog_beam.py). apache-beam 2.77 caps
        # protobuf < 7, pillow < 13, pyarrow < 26 and python-dateutil < 3, so installing this
        # extra resolves those four to the newest versions below the caps (docs/design.md, "Stack").
        # google-crc32c: the CRC32C of TFRecord records that Beam's TFRecord reader checks (a wheel;
        # apache-beam[tfrecord] would build crcmod from source).
        "beam": ["apache-beam==2.77.0", "google-crc32c==1.9.0"],
    },
    entry_points={
        "console_scripts": [
            "fashion-train=fashion_tf.train:main",
            "fashion-demo-shop=fashion_tf.data.demo_shop:main",
        ],
    },
)
