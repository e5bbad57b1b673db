"""Bootstrap of the first PCA basis in the local end-to-end flow: batches -> fit -> promote -> back-fill.

The batches run as in production (`--pca-model latest`, nothing promoted yet: rows without pca); the
refit then fits one basis over the whole store, promotes it and back-fills every batch onto it.
"""

from __future__ import annotations

import pytest

from tests.e2e.local_flow import FlowResult, bad_uploads, check, format_summary, run_flow, sample_uploads

PHOTOS, CLASSES = 10, 5


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> FlowResult:
    return run_flow(
        sample_uploads(PHOTOS, classes=CLASSES) + bad_uploads(),
        out_dir=tmp_path_factory.mktemp("pca-lifecycle"),
        duplicate_delivery=False,
        spark_logs_to_files=True,
        refit_min_images=8,
    )


@pytest.mark.spark
@pytest.mark.slow
def test_refit_puts_every_row_on_one_promoted_basis(flow: FlowResult) -> None:
    assert check(flow) == []
    fit, promote, backfill = flow.refit
    assert [s.exit_code for s in flow.refit] == [0, 0, 0]
    version = fit.report["fitted"]
    assert fit.report["images"] == PHOTOS and fit.report["batch_count"] == len(flow.executions)
    assert promote.report == {"promoted": version, "previous": None, "changed": True}
    assert backfill.report["version"] == version
    assert sum(backfill.report["rewritten"].values()) == PHOTOS
    features = flow.features
    assert len(features) == PHOTOS and set(features["pca_version"]) == {version}
    assert set(features["pca"].map(len)) == {fit.report["k"]}
    assert f"{version}: {PHOTOS} rows" in format_summary(flow)


@pytest.mark.spark
@pytest.mark.slow
def test_the_batches_themselves_fitted_nothing(flow: FlowResult) -> None:
    # Before the refit, the only versions in the model folder would be the refit's own.
    (run,) = flow.executions
    assert run.exit_code == 0
    models = (
        flow.local_copy.parent.parent / flow.spec.names.artifacts_bucket / flow.spec.config.pca_models_prefix
    )
    versions = sorted(p.name for p in models.iterdir() if p.is_dir())
    assert versions == [flow.refit[0].report["fitted"]]
