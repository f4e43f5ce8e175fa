"""Installs keras_vidrep and its command-line tools."""
from setuptools import find_packages, setup

setup(
    name="keras_vidrep",
    version="0.1.0",
    description="Unsupervised learning of video representations with LSTMs, in TensorFlow/Keras 3.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_vidrep", "keras_vidrep.*"]),
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.0",
        "tensorboard",
        "tensorflow-datasets",
        "numpy",
        "opencv-python-headless",
        "matplotlib",
        "scikit-learn",
        "absl-py",
        "h5py",
        "tqdm",
    ],
    # bench: the PyTorch port of bench/train_speed.py (CPU wheel; not needed by the package or its tests).
    # profile: TensorBoard's Profile tab for the traces of --profile_steps.
    # beam: vidrep-preprocess / vidrep-features --shards --workers on Apache Beam (the tests run it too).
    extras_require={"test": ["pytest", "pytest-xdist", "apache-beam>=2.77", "ruff"], "bench": ["torch==2.13.0"],
                    "profile": ["tensorboard-plugin-profile"], "beam": ["apache-beam>=2.77"]},
    entry_points={
        "console_scripts": [
            "vidrep-train=keras_vidrep.cli.train:run",
            "vidrep-export=keras_vidrep.cli.export:run",
            "vidrep-launch=keras_vidrep.cli.launch:run",
            "vidrep-eval=keras_vidrep.cli.evaluate:run",
            "vidrep-viz=keras_vidrep.cli.viz:run",
            "vidrep-ablation=keras_vidrep.cli.ablation:run",
            "vidrep-preprocess=keras_vidrep.cli.preprocess:run",
            "vidrep-fewlabel=keras_vidrep.cli.fewlabel:run",
            "vidrep-embed=keras_vidrep.cli.encode:run",
            "vidrep-features=keras_vidrep.cli.features:run",
            "vidrep-probe=keras_vidrep.cli.probe:run",
            "vidrep-encode=keras_vidrep.cli.encode:run",
        ]
    },
)
