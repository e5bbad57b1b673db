"""Entry point: ``python -m spark_app ...`` or ``spark-submit spark_app/__main__.py ...``.

Without a subcommand it runs the feature job (see ``--help``); ``pca``, ``classifier`` and ``sql``
run the PCA basis lifecycle, the classification engine and local SQL over a feature store.
"""

import importlib
import sys
from pathlib import Path

if not __package__:  # run as a file by spark-submit: make the package importable
    try:
        import spark_app  # noqa: F401  (provided by --py-files on EMR Serverless)
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spark_app.cli import main

#: Subcommand -> module whose ``main(argv)`` runs it.
SUBCOMMANDS = {
    "pca": "spark_app.pca_cli",
    "classifier": "spark_app.classifier_cli",
    "sql": "spark_app.queries",
}

if __name__ == "__main__":
    if sys.argv[1:2] and sys.argv[1] in SUBCOMMANDS:
        sys.exit(importlib.import_module(SUBCOMMANDS[sys.argv[1]]).main(sys.argv[2:]))
    sys.exit(main())
