"""Lambda code and dependency layer, built at synth time without Docker.

The function asset holds ``lambdas/`` and the runtime part of ``countersign/``. The layer holds
Jinja2 and MarkupSafe, copied as pure Python from the local environment (MarkupSafe falls back to
its pure-Python implementation when its C speedups are absent), so synth needs no network.
Powertools comes from AWS's public layer.
"""
from __future__ import annotations

import atexit
import importlib.util
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".build"
NOT_SHIPPED = {"cli", "__main__.py", "sandbox"}   # client-side parts of the domain library
LAYER_PACKAGES = ("jinja2", "markupsafe")


def _ignore(_dir: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__" or n.endswith((".pyc", ".so", ".pyd")) or n in NOT_SHIPPED]


def _fresh(kind: str) -> Path:
    """A new folder of this process's own, removed when it exits: synth copies the asset into
    cdk.out, and two synths at once (``countersign local`` beside ``make synth``, or test workers)
    never rebuild a folder the other is reading."""
    BUILD.mkdir(exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=BUILD))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def function_code_dir() -> str:
    out = _fresh("function")
    for package in ("countersign", "lambdas"):
        shutil.copytree(ROOT / package, out / package, ignore=_ignore)
    return str(out)


def dependency_layer_dir() -> str:
    out = _fresh("layer")
    for package in LAYER_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"{package} is not installed; run `make venv` first")
        shutil.copytree(list(spec.submodule_search_locations)[0], out / "python" / package, ignore=_ignore)
    return str(out)
