"""Loaded by child processes of the conformance test (via PYTHONPATH): record AWS calls as the job."""

import os

if os.environ.get("FRUITS_AUDIT_LOG") and os.environ.get("FRUITS_AUDIT_PRINCIPAL"):
    import importlib.util
    from pathlib import Path

    _spec = importlib.util.spec_from_file_location(
        "fruits_audit_recorder", Path(__file__).resolve().parent.parent / "recorder.py"
    )
    _recorder = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_recorder)
    try:
        _principal = os.environ["FRUITS_AUDIT_PRINCIPAL"]
        _recorder.install(os.environ["FRUITS_AUDIT_LOG"], lambda: _principal)
    except ImportError:  # no botocore in this interpreter: it makes no AWS calls either
        pass
