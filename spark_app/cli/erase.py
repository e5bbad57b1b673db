"""``python -m spark_app erase --identity <id> --store ...``: erase everything of one app identity.

One pass deletes the identity's uploads (staged and committed), answers and corrections, rewrites the
Parquet files and manifests naming its uploads, drops the Glue partitions it empties, and deletes its
identity-table items and (``--delete-cognito-identity``) the identity itself. It prints the receipt (counts
and times, no identity id). Running it again resumes (idempotent); ``--wait`` repeats it until done.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict

from spark_app.cli.common import (
    EXIT_OK,
    UserError,
    add_aws_options,
    add_store_option,
    run_command,
    use_aws_options,
)
from spark_app.core.corrections import CorrectionError, check_identity
from spark_app.core.defaults import ERASURE_HOLD_SECONDS
from spark_app.core.erasure import ErasureError, Layout, check_erasure_id

PROG = "spark_app erase"


def non_negative(text: str) -> float:
    """argparse type: a number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--identity", required=True, help="the identity id to erase (<region>:<uuid>)")
    add_store_option(parser)
    parser.add_argument(
        "--ingest", help="the ingestion bucket's root, e.g. s3://fruits-ingest (uploads, staged)"
    )
    parser.add_argument("--staging-prefix", default="incoming/", help="staged uploads (default incoming/)")
    parser.add_argument("--uploads-prefix", default="uploads/", help="committed uploads (default uploads/)")
    parser.add_argument("--answers", help="the answers root, e.g. s3://fruits-results/answers")
    parser.add_argument("--manifests", help="the manifests' root, e.g. s3://fruits-ingest/manifests")
    parser.add_argument("--identity-table", help="the app's identity table (DynamoDB)")
    parser.add_argument(
        "--delete-cognito-identity", action="store_true", help="also delete the identity in Cognito"
    )
    parser.add_argument("--glue-database", help="drop the Glue partitions the erasure empties")
    parser.add_argument(
        "--hold-seconds",
        type=non_negative,
        default=ERASURE_HOLD_SECONDS,
        help=f"keep the tombstone, and erase again, this long after the first pass (default "
        f"{ERASURE_HOLD_SECONDS}: longer than a guest's credentials live; 0 when nothing can arrive late)",
    )
    parser.add_argument("--erasure-id", help="the receipt's id (32 hex digits; default: a new one)")
    parser.add_argument("--wait", action="store_true", help="repeat the pass until the erasure is done")
    parser.add_argument("--poll-seconds", type=non_negative, default=30.0, help="between passes (--wait)")
    add_aws_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(PROG, lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from spark_app.store.erasure import ErasureRequest, erase

    use_aws_options(args)
    try:
        identity = check_identity(args.identity)
        erasure_id = check_erasure_id(args.erasure_id) if args.erasure_id else None
    except (CorrectionError, ErasureError) as exc:
        raise UserError(str(exc)) from None
    layout = Layout(
        store=args.store.rstrip("/"),
        ingest=args.ingest.rstrip("/") if args.ingest else None,
        staging_prefix=args.staging_prefix,
        uploads_prefix=args.uploads_prefix,
        answers=args.answers.rstrip("/") if args.answers else None,
        manifests=args.manifests.rstrip("/") if args.manifests else None,
    )
    request = ErasureRequest(
        identity,
        layout,
        identity_table=args.identity_table,
        cognito=args.delete_cognito_identity,
        glue_database=args.glue_database,
        hold_seconds=args.hold_seconds,
        erasure_id=erasure_id,
    )
    receipt = erase(request, wait=args.wait, poll_seconds=args.poll_seconds)
    print(json.dumps(asdict(receipt), sort_keys=True))
    return EXIT_OK
