"""Entry point: ``python -m spark_app ...`` or ``spark-submit spark_app/__main__.py ...`` (see ``--help``)."""

import sys
from pathlib import Path

if not __package__:  # run as a file by spark-submit: make the package importable
    try:
        import spark_app  # noqa: F401  (provided by --py-files on EMR Serverless)
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spark_app.cli import main

if __name__ == "__main__":
    sys.exit(main())
