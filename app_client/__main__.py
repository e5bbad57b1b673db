"""Send photos as the app does and print their answers.

``python -m app_client --pool <IdentityPoolId> --api <AppApiUrl> photo.jpg [...]``
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
from collections.abc import Sequence
from pathlib import Path

from app_client.client import AppApiError, AppClient, AppSettings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app_client", description=__doc__.split("\n")[0])
    parser.add_argument("--pool", required=True, help="the stack output IdentityPoolId (<region>:<uuid>)")
    parser.add_argument("--api", required=True, help="the stack output AppApiUrl")
    parser.add_argument(
        "--identity", help="reuse this identity id (as an installed app does); default: a new one"
    )
    parser.add_argument(
        "--wait", type=float, default=600.0, help="seconds to wait for each answer (default 600)"
    )
    parser.add_argument("photos", nargs="+", type=Path, help="JPEG, PNG or WebP files")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    client = AppClient(AppSettings(identity_pool_id=args.pool, api_url=args.api), identity_id=args.identity)
    print(f"identity {client.identity()}", file=sys.stderr)
    status = 0
    for path in args.photos:
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        try:
            grant = client.send_photo(path.read_bytes(), content_type)
            answer = client.wait_for_answer(grant, timeout=args.wait)
        except (AppApiError, TimeoutError, OSError) as error:
            print(f"{path}: {error}", file=sys.stderr)
            status = 1
            continue
        print(json.dumps({"photo": str(path), "photo_id": grant.photo_id, "answer": answer}, sort_keys=True))
    return status


if __name__ == "__main__":
    sys.exit(main())
