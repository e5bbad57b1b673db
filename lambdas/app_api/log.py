"""The one Powertools Logger of the app API Lambda (JSON logs; level from POWERTOOLS_LOG_LEVEL)."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

from lambdas.app_api.config import DEFAULT_SERVICE_NAME, ENV_POWERTOOLS_SERVICE_NAME

logger = Logger(service=os.environ.get(ENV_POWERTOOLS_SERVICE_NAME) or DEFAULT_SERVICE_NAME)
