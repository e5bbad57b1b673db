"""The answer Lambda's image: its build context as synthesized, its pinned packages, and the handler
imported from exactly those files in a fresh interpreter (the image itself needs Docker: built at deploy)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from test_lambda_assets import install_from_this_venv

from cdk_app.answer import DOCKERFILE
from cdk_app.config import REPO_ROOT
from spark_app.core.model import PINNED_LITERT_NAME

REQUIREMENTS = REPO_ROOT / "lambdas" / "answer" / "image-requirements.txt"
#: What the handler must not load (nor even find): the batch's heavy stack stays out of the image.
ABSENT = ("pandas", "pyspark", "pyarrow", "tensorflow", "keras", "h5py")
ENTRYPOINT = "# entrypoint"


def image_pins(*, entrypoint: bool = True) -> dict[str, str]:
    """``{distribution: version}`` of the image (without the entry point's own when asked)."""
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if match and (entrypoint or ENTRYPOINT not in line):
            pins[match[1].lower()] = match[2]
    return pins


def image_context(synth) -> Path:
    assets = json.loads(next(synth.outdir.glob("FruitsPipeline.assets.json")).read_text())
    (image,) = [i for i in assets["dockerImages"].values() if i["source"]["dockerFile"] == DOCKERFILE]
    return synth.outdir / image["source"]["directory"]


def test_the_image_pins_every_package_like_requirements_and_this_venv() -> None:
    pins = image_pins()
    requirements = {}
    for name in ("requirements.txt", "requirements-dev.txt"):
        text = (REPO_ROOT / name).read_text()
        requirements |= {m[0].lower(): m[1] for m in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.M)}
    assert {"ai-edge-litert", "numpy", "pillow", "boto3", "aws-lambda-powertools"} <= set(pins)
    assert not set(pins) & {"tensorflow-cpu", "keras", "pandas", "pyspark", "pyarrow", "h5py"}
    for name in set(pins) & set(requirements):
        assert pins[name] == requirements[name], name
    for name, pinned in image_pins(entrypoint=False).items():
        assert version(name) == pinned, f"{name}: this venv has {version(name)}, the image pins {pinned}"
    dockerfile = (REPO_ROOT / DOCKERFILE).read_text()
    assert "--no-deps -r /tmp/image-requirements.txt" in dockerfile and "pip check" in dockerfile


def test_the_build_context_is_the_code_and_the_pinned_model_only(synth) -> None:
    context = image_context(synth)
    files = sorted(p.relative_to(context).as_posix() for p in context.rglob("*") if p.is_file())
    spark_app = sorted(
        p.relative_to(REPO_ROOT).as_posix()
        for p in (REPO_ROOT / "spark_app").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    answer = sorted(p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "lambdas/answer").glob("*"))
    assert [f for f in files if f.startswith("spark_app/")] == spark_app
    assert [f for f in files if f.startswith("lambdas/")] == ["lambdas/__init__.py", *answer]
    assert [f for f in files if not f.startswith(("spark_app/", "lambdas/"))] == [
        DOCKERFILE,
        f"models/{PINNED_LITERT_NAME}",
        f"models/{PINNED_LITERT_NAME}.sha256",
    ]
    # Every file the Dockerfile copies is in the context.
    copied = re.findall(r"^COPY (.+) \S+$", (REPO_ROOT / DOCKERFILE).read_text(), re.M)
    for source in " ".join(copied).split():
        assert (context / source).exists(), source


def test_the_handler_runs_from_the_images_files_with_only_the_images_packages(synth, tmp_path: Path) -> None:
    context, runtime = image_context(synth), tmp_path / "site-packages"
    install_from_this_venv(list(image_pins(entrypoint=False)), runtime, link=True)
    photo = next((REPO_ROOT / "data" / "sample" / "Test").rglob("*.jpg"))
    code = f"""
import json, os, sys
sys.path[:0] = [{str(context)!r}, {str(runtime)!r}]
os.environ.update(ANSWERS_ROOT={str(tmp_path / "answers")!r}, PCA_MODEL_DIR={str(tmp_path / "pca")!r},
                  CLASSIFIER_DIR={str(tmp_path / "clf")!r}, UPLOADS_PREFIX="uploads/",
                  AWS_DEFAULT_REGION="eu-west-3")
import lambdas.answer.handler as h
from lambdas.answer.service import answer_document, read_upload
rt = h.RUNTIME
content = read_upload({str(photo)!r}, 10**7)
answer, _ = answer_document(content, rt.extractor, rt.heads.current(), rt.model_version)
import importlib.util
print(json.dumps({{
    "answer": answer,
    "loaded": sorted(m for m in {ABSENT!r} if m in sys.modules),
    "findable": sorted(m for m in {ABSENT!r} if importlib.util.find_spec(m)),
    "model": str(h.RUNTIME.extractor.__class__.__name__),
    "files": sorted({{os.path.dirname(m.__file__) for m in (h, sys.modules["spark_app.core.model"])}}),
}}))
"""
    # -I: no user site, no PYTHONPATH, not the current folder; -S: not this venv's site-packages.
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["loaded"] == [] and report["findable"] == []
    assert report["model"] == "LiteRTExtractor"
    assert all(f.startswith(str(context)) for f in report["files"])
    answer = report["answer"]
    assert answer["status"] == "no_classifier" and answer["model_version"].endswith("@6714965a05ee")
