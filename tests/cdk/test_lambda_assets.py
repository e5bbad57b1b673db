"""Each Lambda asset, as the stack builds it, imports its handler on its own: no hand-picked files."""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import pytest

from cdk_app.config import REPO_ROOT

#: Modules a Lambda must never load: it runs without them (the Spark-free core is all it ships).
HEAVY = ("numpy", "pandas", "PIL", "pyspark", "pyarrow", "tensorflow", "ai_edge_litert")


def runtime_packages(listing: Path) -> list[str]:
    """The distributions a Lambda's runtime provides (one per line, comments ignored)."""
    lines = (line.split("#", 1)[0].strip() for line in listing.read_text().splitlines())
    return [line for line in lines if line]


def install_from_this_venv(packages: list[str], target: Path, *, link: bool = False) -> None:
    """Copy (or symlink, for large packages) the installed files of ``packages`` into ``target``
    (standing in for the runtime)."""
    for name in packages:
        dist = distribution(name)
        for file in dist.files or []:
            source = Path(dist.locate_file(file))
            if file.parts[0] == "..":  # console scripts land outside site-packages: not importable
                continue
            if source.is_file() and ".dist-info" not in str(file) and "__pycache__" not in str(file):
                destination = target / file
                destination.parent.mkdir(parents=True, exist_ok=True)
                if link:
                    destination.symlink_to(source.resolve())
                else:
                    shutil.copyfile(source, destination)


def _function(synth, name: str):
    """The stack's Lambda for a package of lambdas/ (``ingest``, ``app_api``)."""
    return {"ingest": synth.stack.ingest.function, "app_api": synth.stack.app_access.function}[name]


def asset_dir(synth, function) -> Path:
    """The folder of a function's code asset in the synthesized cloud assembly."""
    resource = synth.template_json["Resources"][synth.logical_id(function)]
    return synth.outdir / f"asset.{resource['Properties']['Code']['S3Key'].removesuffix('.zip')}"


@pytest.mark.parametrize("function", ["ingest", "app_api"])
def test_each_asset_ships_lambdas_and_the_whole_core_and_store(synth, function: str) -> None:
    asset = asset_dir(synth, _function(synth, function))
    files = sorted(p.relative_to(asset).as_posix() for p in asset.rglob("*") if p.is_file())
    packages = [
        p.relative_to(REPO_ROOT).as_posix()
        for package in ("core", "store")
        for p in sorted((REPO_ROOT / "spark_app" / package).glob("*.py"))
    ]
    assert [f for f in files if f.startswith("spark_app/")] == ["spark_app/__init__.py", *packages]
    assert f"lambdas/{function}/handler.py" in files
    assert all(f.startswith(("lambdas/", "spark_app/")) for f in files)
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc") or "/." in f]


@pytest.mark.parametrize("function", ["ingest", "app_api"])
def test_each_handler_imports_from_its_asset_alone(synth, tmp_path: Path, function: str) -> None:
    asset = asset_dir(synth, _function(synth, function))
    runtime = tmp_path / "runtime"
    install_from_this_venv(
        runtime_packages(REPO_ROOT / "lambdas" / function / "runtime-packages.txt"), runtime
    )
    code = (
        "import sys\n"
        f"sys.path[:0] = [{str(asset)!r}, {str(runtime)!r}]\n"
        f"import lambdas.{function}.handler as h\n"
        "assert callable(h.handler)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
        "import importlib.util\n"
        f"print(sorted(m for m in {HEAVY!r} if importlib.util.find_spec(m)))\n"
    )
    # -I: no user site, no PYTHONPATH, not the current folder; -S: not this venv's site-packages.
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split("\n")[:2] == ["[]", "[]"]  # none loaded, none even findable
