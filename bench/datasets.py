"""Benchmark datasets, generated deterministically under the work directory and reused.

* small: the Fruits-360 sample replicated (hard links, or copies across file systems) to
  ``n`` files, laid out as ``<Class>/<rep>-<split>-<name>.jpg`` so the label is the parent folder;
* large: ``n`` synthetic 12-megapixel (4000x3000) JPEGs upscaled from sample images, with
  per-image brightness and sensor-like noise, quality 90, and an EXIF orientation tag on every
  fourth one.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_SAMPLE = REPO_ROOT.parent / "shared" / "data" / "fruits-360-sample"
BUNDLED_SAMPLE = REPO_ROOT / "data" / "sample"
LARGE_SIZE = (4000, 3000)
LARGE_QUALITY = 90
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class Dataset:
    """A generated dataset: its root folder, file count and description."""

    name: str
    root: Path
    files: int
    bytes: int
    source: str

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "root": str(self.root),
            "files": self.files,
            "bytes": self.bytes,
            "source": self.source,
        }


def sample_root() -> Path:
    """The shared 1,900-image sample, or the bundled demo sample when it is absent."""
    return SHARED_SAMPLE if SHARED_SAMPLE.is_dir() else BUNDLED_SAMPLE


def sample_images(root: Path) -> list[Path]:
    """Every .jpg under ``root``, in a stable order."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg"))


def _read_marker(root: Path, spec: dict[str, object]) -> Dataset | None:
    marker = _marker(root)
    if not marker.is_file():
        return None
    info = json.loads(marker.read_text())
    if info.get("spec") != spec:
        return None
    return Dataset(info["name"], root, info["files"], info["bytes"], info["source"])


def _marker(root: Path) -> Path:
    """Kept beside the dataset, not in it: the pipeline reads every file under its input."""
    return root.with_name(root.name + ".json")


def _write_marker(dataset: Dataset, spec: dict[str, object]) -> Dataset:
    _marker(dataset.root).write_text(json.dumps({**dataset.as_dict(), "spec": spec}, indent=2))
    return dataset


def _fresh(root: Path) -> None:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)


def _required_images(source: Path) -> list[Path]:
    """The sample's images; an empty sample is an error."""
    images = sample_images(source)
    if not images:
        raise FileNotFoundError(f"no .jpg images under {source}")
    return images


def make_small(work_dir: Path, n: int) -> Dataset:
    """``n`` files replicated from the sample (reused when already generated with the same spec)."""
    source = sample_root()
    root = work_dir / f"small-{n}"
    spec = {"kind": "small", "n": n, "source": str(source)}
    if (existing := _read_marker(root, spec)) is not None:
        return existing
    images = _required_images(source)
    _fresh(root)
    total = 0
    for i in range(n):
        rep, src = divmod(i, len(images))
        image = images[src]
        rel = image.relative_to(source)
        split = "-".join(rel.parts[:-2]) or "s"
        target = root / image.parent.name / f"{rep:02d}-{split}-{image.name}"
        target.parent.mkdir(exist_ok=True)
        try:
            os.link(image, target)
        except OSError:
            shutil.copyfile(image, target)
        total += target.stat().st_size
    return _write_marker(Dataset("small", root, n, total, str(source)), spec)


def _make_photo(job: tuple[Path, Path, int]) -> int:
    """One synthetic 12 MP JPEG from a sample image; returns its size in bytes."""
    src, target, index = job
    rng = np.random.default_rng(index)
    with Image.open(src) as image:
        big = image.convert("RGB").resize(LARGE_SIZE, Image.Resampling.BICUBIC)
    pixels = np.asarray(big, dtype=np.float32)
    gain = rng.uniform(0.85, 1.15)
    noise = rng.normal(0.0, 6.0, size=pixels.shape).astype(np.float32)
    pixels = np.clip(pixels * gain + noise, 0, 255).astype(np.uint8)
    photo = Image.fromarray(pixels, "RGB")
    exif = Image.Exif()
    exif[0x010F] = "bench-synthetic"  # Make
    if index % 4 == 0:
        exif[_EXIF_ORIENTATION] = 6  # displayed rotated by 90 degrees
    photo.save(target, "JPEG", quality=LARGE_QUALITY, exif=exif.tobytes())
    return target.stat().st_size


def make_large(work_dir: Path, n: int, processes: int = 2) -> Dataset:
    """``n`` synthetic 12 MP photos (reused when already generated with the same spec)."""
    source = sample_root()
    root = work_dir / f"large-{n}"
    spec = {
        "kind": "large",
        "n": n,
        "source": str(source),
        "size": list(LARGE_SIZE),
        "quality": LARGE_QUALITY,
        "version": 1,
    }
    if (existing := _read_marker(root, spec)) is not None:
        return existing
    images = _required_images(source)
    _fresh(root)
    step = max(1, len(images) // n)
    jobs = []
    for i in range(n):
        image = images[(i * step) % len(images)]
        target = root / image.parent.name / f"photo-{i:04d}.jpg"
        target.parent.mkdir(exist_ok=True)
        jobs.append((image, target, i))
    with Pool(processes) as pool:
        total = sum(pool.imap_unordered(_make_photo, jobs, chunksize=4))
    return _write_marker(Dataset("large", root, n, total, str(source)), spec)


def write_manifest(data: Dataset, n: int, folder: Path) -> Path:
    """A manifest of the dataset's first ``n`` files (sorted): one production batch of that size."""
    from spark_app.core.manifest import ManifestEntry, dumps_manifest

    files = sorted(p for p in data.root.rglob("*") if p.is_file())[:n]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{data.name}-{n}.jsonl"
    path.write_text(dumps_manifest([ManifestEntry(str(f.resolve())) for f in files]))
    return path
