"""Entry point: ``python -m spark_app ...`` or ``spark-submit spark_app/__main__.py ...`` (see ``--help``)."""

import sys
from pathlib import Path

if not __package__:  # run as a file by spark-submit: make the package importable
    try:
        import spark_app  # noqa: F401  (provided by --py-files on EMR Serverless)
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spark_app.cli import main


def run() -> int:
    """``main()``, or one line when this Python lacks the project's packages (e.g. spark-submit's
    default ``python3`` instead of the venv's)."""
    try:
        return main()
    except ModuleNotFoundError as exc:
        print(
            f"spark_app: error: {exc}: run it with the project's Python (.venv/bin/python -m spark_app, "
            "or PYSPARK_PYTHON=.venv/bin/python for spark-submit)",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(run())
