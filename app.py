#!/usr/bin/env python3
"""CDK entry point (see cdk.json): ``npx cdk synth`` / ``npx cdk deploy``.

Settings come from CDK context, e.g. ``npx cdk synth -c region=eu-west-1``; see cdk_app/config.py.
A bad setting or an unknown context key fails with one line on stderr and a non-zero exit.
"""

import os
import sys

# jsii warns loudly about the Node.js version on every run; the CLI pins what it supports.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from cdk_app.app import build_app
from cdk_app.config import ConfigError


def main() -> int:
    try:
        app, _ = build_app()
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
