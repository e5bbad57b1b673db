"""Entry point: ``python -m spark_app ...`` or ``spark-submit spark_app/__main__.py ...``."""

import sys
from pathlib import Path

if not __package__:  # run as a file by spark-submit: make the package importable
    try:
        import spark_app  # noqa: F401  (provided by --py-files on EMR Serverless)
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spark_app.cli import main

if __name__ == "__main__":
    if sys.argv[1:2] == ["pca"]:  # the PCA basis lifecycle: fit, promote, backfill
        from spark_app.pca_cli import main as pca_main

        sys.exit(pca_main(sys.argv[2:]))
    if sys.argv[1:2] == ["sql"]:  # the feature store's tables, queried locally
        from spark_app.queries import main as sql_main

        sys.exit(sql_main(sys.argv[2:]))
    sys.exit(main())
