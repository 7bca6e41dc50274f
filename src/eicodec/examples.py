"""The example files shipped with eicodec (``eicodec example`` writes them out).

In an installed wheel they live in the package (``eicodec/examples``); in a source
checkout in the repository's ``examples/`` folder.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from .errors import LookupFailure


def examples_dir() -> Path:
    """The folder holding the example files."""
    packaged = importlib.resources.files("eicodec") / "examples"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "examples"  # <repo>/src/eicodec -> <repo>/examples


def example_names() -> list[str]:
    """File names of the examples, e.g. ``["ap304_claim_rejected.asc", ...]``."""
    return sorted(p.name for p in examples_dir().glob("*.asc"))


def example_path(name: str) -> Path:
    """The path of example *name* (with or without ``.asc``)."""
    file = name if name.endswith(".asc") else f"{name}.asc"
    if file not in example_names():
        raise LookupFailure(f"no example {name!r} (there are {', '.join(example_names())})")
    return examples_dir() / file


def read_example(name: str) -> bytes:
    """The bytes of example *name*."""
    return example_path(name).read_bytes()
