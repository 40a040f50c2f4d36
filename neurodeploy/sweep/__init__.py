"""`neurodeploy sweep SPEC.toml`: a declarative grid of compile/run options, each point compiled, run,
validated and priced on Dask distributed workers, into one Parquet table (docs/sweep.md)."""
from .run import sweep
from .spec import Point, Spec, load

__all__ = ["Point", "Spec", "load", "sweep"]
