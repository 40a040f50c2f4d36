"""Packages: `neurodeploy/` plus the per-target `backends/` folder installed as `neurodeploy.backends`."""
from setuptools import find_packages, setup

backends = ["neurodeploy.backends"] + ["neurodeploy.backends." + p for p in find_packages("backends")]
setup(
    packages=find_packages(include=["neurodeploy", "neurodeploy.*"]) + backends,
    package_dir={"neurodeploy.backends": "backends"},
)
