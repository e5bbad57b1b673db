"""``python -m bench.classifier_selection``: how the classifier is chosen, what one identity's corrections
can do to it, and what a 1-nearest-neighbour head costs per photo.

On the shared Fruits-360 sample (38 classes, Training -> Test), in one run:

1. **selection**: ``classifier train`` with its defaults (3-fold cross-validation on the curated
   Training images: 5 ``regParam`` values and 1-NN): the cross-validation scores, the choice, its Test
   top-1 and the 1-NN baseline; then each candidate trained alone on Training and scored on Test (what
   cross-validation should find);
2. **poisoning**: one identity's 500 wrong corrections (noisy copies of Training features, each
   labelled with the next class), trained with the trust rule (5 images per identity) and without it:
   Test top-1 and the promotion gate's verdict against the clean classifier;
3. **serving cost**: a 1-NN head at the size cap (``MAX_NN_PROTOTYPES`` training images, float16 on
   disk) and the logistic head, applied to one photo at a time as the answer Lambda does (median and
   95th percentile), the arrays' size and load time.

``--store DIR`` reuses a feature store of the sample (else the feature job runs first, a few minutes).
Writes ``bench/results/<date>-classifier-selection.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from bench.datasets import SHARED_SAMPLE
from spark_app.core.defaults import MAX_NN_PROTOTYPES, MAX_WEIGHT_PER_IDENTITY
from spark_app.core.heads import NEAREST, RAW, Classifier, Heads, apply_heads, unit_rows
from spark_app.models import classifier, registry

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SPLIT = {"train_path": "Training", "validation_path": "Test", "min_per_class": 3}
POISON, ATTACKER = 500, "eu-west-3:0000000f-0000-4000-8000-000000000000"
PHOTOS = 300  # single-photo predictions timed per head


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.classifier_selection", description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="an existing feature store of the shared sample (default: build one)")
    args = parser.parse_args(argv)
    from spark_app.job.session import build_session

    spark = build_session("bench-classifier-selection", master="local[*]", arrow_batch_rows=32)
    work = Path(tempfile.mkdtemp(prefix="bench-selection-"))
    try:
        store = Path(args.store) if args.store else features_of_sample(spark, work / "store")
        results = {"source": str(SHARED_SAMPLE), "store": str(store)}
        results["selection"], clean = selection(spark, store, work)
        results["poisoning"] = poisoning(spark, store, work, clean)
        results["serving"] = serving(store, clean)
    finally:
        spark.stop()
        shutil.rmtree(work, ignore_errors=True)
    write(results)
    return 0


def features_of_sample(spark, store: Path) -> Path:
    from spark_app.job.config import RunConfig
    from spark_app.job.run import run

    run(RunConfig(input=str(SHARED_SAMPLE), output=str(store), batch_id="sample"), spark)
    return store


def selection(spark, store: Path, work: Path) -> tuple[dict, classifier.TrainedClassifier]:
    started = time.perf_counter()
    chosen = classifier.train(spark, str(store), str(work / "chosen"), corrections="none", **SPLIT)
    wall = time.perf_counter() - started
    m = chosen.metrics
    alone = {}
    for reg in m["selection"]["scores"]:
        if reg == "1-NN":
            one = classifier.train(
                spark, str(store), str(work / "alone"), corrections="none", heads=(NEAREST,), **SPLIT
            )
        else:
            value = float(reg.split("=")[1].rstrip(")"))
            one = classifier.train(
                spark,
                str(store),
                str(work / "alone"),
                corrections="none",
                reg_params=(value,),
                heads=("logistic",),
                **SPLIT,
            )
        alone[reg] = one.metrics["top1_accuracy"]
    return {
        "classes": len(m["labels"]),
        "train_images": m["train_images"],
        "validation_images": m["validation_images"],
        "cv_scores": m["selection"]["scores"],
        "cv_choice": m["selection"]["cv_choice"],
        "chosen": m["selection"]["chosen"],
        "note": m["selection"]["note"],
        "top1": m["top1_accuracy"],
        "top3": m["top3_accuracy"],
        "macro_f1": m["macro_f1"],
        "nearest_neighbour_top1": m["nearest_neighbour_top1_accuracy"],
        "test_top1_of_each_candidate": alone,
        "selection_seconds": m["selection_seconds"],
        "train_seconds": m["train_seconds"],
        "wall_seconds": round(wall, 1),
    }, chosen


def poisoning(spark, store: Path, work: Path, clean: classifier.TrainedClassifier) -> dict:
    from tests.helpers.corrections import correct_all, write_uploads

    poisoned = work / "poisoned"
    shutil.copytree(store / "features", poisoned / "features")
    curated = pd.read_parquet(poisoned / "features")
    training = curated[curated["path"].str.contains("/Training/")].reset_index(drop=True)
    flood = write_uploads(spark, poisoned, training, ATTACKER, POISON, seed=1)
    correct_all(poisoned, ATTACKER, flood, sorted(training["label"].unique()), wrong=True)
    registry_dir = work / "poisoned-registry"
    shutil.copytree(clean.uri, registry_dir / clean.version)
    registry.promote(str(registry_dir), clean.version)
    m = clean.metrics
    same = {"reg_params": (m["reg_param"] or 0.0,), "heads": (m["head"],), **SPLIT}
    out = {"corrections": POISON, "clean_top1": m["top1_accuracy"]}
    for name, cap in (("trust_rule", MAX_WEIGHT_PER_IDENTITY), ("no_trust_rule", float(POISON))):
        r = classifier.train(
            spark, str(poisoned), str(registry_dir), max_weight_per_identity=cap, **same
        ).metrics
        out[name] = {
            "max_weight_per_identity": cap,
            "weight": r["corrections"]["weight"],
            "top1": r["top1_accuracy"],
            "change_points": round(100 * (r["top1_accuracy"] - m["top1_accuracy"]), 2),
            "nearest_neighbour_top1": r["nearest_neighbour_top1_accuracy"],
            "gate_passed": r["gate"]["passed"],
            "gate_reasons": r["gate"]["reasons"],
        }
    return out


def serving(store: Path, clean: classifier.TrainedClassifier) -> dict:
    """One photo at a time through ``apply_heads``, as the answer Lambda applies a promoted version."""
    rows = pd.read_parquet(store / "features", columns=["features", "path", "label"])
    x = np.stack(rows["features"].to_numpy()).astype(np.float32)
    rng = np.random.default_rng(0)
    picked = x[rng.integers(0, len(x), MAX_NN_PROTOTYPES)]
    prototypes = unit_rows(picked * (1 + 0.05 * rng.standard_normal(picked.shape))).astype(np.float16)
    labels = sorted(rows["label"].dropna().unique())
    prototype_labels = np.sort(rng.integers(0, len(labels), MAX_NN_PROTOTYPES)).astype(np.int32)
    work = Path(tempfile.mkdtemp(prefix="bench-nn-head-"))
    try:
        version = registry.Version(
            "clf-raw-nn-cap",
            registry.CLASSIFIER_KIND,
            registry.now_iso(),
            registry.read_version(clean.uri).model_version,
            {"labels": labels, "features": RAW, "head": NEAREST, "temperature": 0.02},
        )
        uri = registry.save_version(
            str(work), version, {"prototypes": prototypes, "prototype_labels": prototype_labels}
        )
        size_mb = (Path(uri) / registry.ARRAYS_FILE).stat().st_size / 1e6
        started = time.perf_counter()
        nearest = registry.load_classifier(uri)
        load_seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    logistic = registry.load_classifier(clean.uri) if clean.metrics["head"] != NEAREST else None
    out = {
        "nearest": {
            "prototypes": MAX_NN_PROTOTYPES,
            "arrays_mb": round(size_mb, 1),
            "load_seconds": round(load_seconds, 3),
        }
    }
    out["nearest"].update(per_photo(nearest, x))
    if logistic is not None:
        out["logistic"] = per_photo(logistic, x)
    return out


def per_photo(clf: Classifier, x: np.ndarray) -> dict:
    heads = Heads(classifier=clf)
    apply_heads([x[0]], heads)  # warm-up
    times = []
    for row in x[:PHOTOS]:
        started = time.perf_counter()
        apply_heads([row], heads)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "photos": len(times),
        "median_ms": round(statistics.median(times), 3),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 3),
    }


def write(results: dict) -> None:
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    results["date"] = date
    (RESULTS_DIR / f"{date}-classifier-selection.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS_DIR / f"{date}-classifier-selection.md").write_text(markdown(results))
    print(markdown(results))


def markdown(r: dict) -> str:
    s, p, v = r["selection"], r["poisoning"], r["serving"]
    note = f"; {s['note']}" if s["note"] else ""
    lines = [
        f"# Classifier selection, poisoning and serving cost ({r['date']})",
        "",
        f"Shared Fruits-360 sample: {s['classes']} classes, {s['train_images']} Training -> "
        f"{s['validation_images']} Test images (`python -m bench.classifier_selection`).",
        "",
        "## Selection (3-fold cross-validation on Training only)",
        "",
        "| candidate | CV top-1 | Test top-1 (trained alone) |",
        "| --- | ---: | ---: |",
        *(
            f"| {name} | {score:.4f} | {s['test_top1_of_each_candidate'][name]:.4f} |"
            for name, score in s["cv_scores"].items()
        ),
        "",
        f"Chosen: **{s['chosen']}** (CV: {s['cv_choice']}{note}): Test top-1 **{s['top1']:.4f}**, "
        f"top-3 {s['top3']:.4f}, macro-F1 {s['macro_f1']:.4f}; 1-NN baseline "
        f"{s['nearest_neighbour_top1']:.4f}. Cross-validation {s['selection_seconds']:.0f} s, final fit "
        f"{s['train_seconds']:.0f} s ({s['wall_seconds']:.0f} s in all).",
        "",
        f"## One identity's {p['corrections']} wrong corrections",
        "",
        "| training | weight of the corrections | Test top-1 | change | 1-NN baseline | gate |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
        f"| clean | 0 | {p['clean_top1']:.4f} | - | - | - |",
    ]
    for name in ("trust_rule", "no_trust_rule"):
        q = p[name]
        lines.append(
            f"| {name.replace('_', ' ')} (cap {q['max_weight_per_identity']:g}) | {q['weight']:g} | "
            f"{q['top1']:.4f} | {q['change_points']:+.2f} pt | {q['nearest_neighbour_top1']:.4f} | "
            f"{'passed' if q['gate_passed'] else 'refused'} |"
        )
    lines += [
        "",
        "## Serving cost per photo (NumPy, one photo at a time)",
        "",
        "| head | median | p95 | arrays | load |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    nn = v["nearest"]
    lines.append(
        f"| 1-NN at the cap ({nn['prototypes']:,} images, float16) | {nn['median_ms']:.2f} ms | "
        f"{nn['p95_ms']:.2f} ms | {nn['arrays_mb']:.1f} MB | {nn['load_seconds']:.2f} s |"
    )
    if "logistic" in v:
        lr = v["logistic"]
        lines.append(f"| logistic regression | {lr['median_ms']:.3f} ms | {lr['p95_ms']:.3f} ms | - | - |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
