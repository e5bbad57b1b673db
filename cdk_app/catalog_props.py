"""Props of the Catalog construct: the Glue database's name and where its tables' data lives."""

from __future__ import annotations

from dataclasses import dataclass

from cdk_app import shared
from cdk_app.validation import require_glue_name, require_prefix


@dataclass(frozen=True)
class CatalogProps:
    """The Glue database over the feature store."""

    #: Name of the Glue database. Pattern ``[a-z0-9_]{1,255}`` (Athena: lower case, digits, '_').
    #: Default ``fruits_features`` (``<name_prefix>_features``).
    database_name: str = shared.DEFAULT_NAMES.glue_database
    #: Key prefix of the feature store in the results bucket; each table lives under
    #: ``<prefix><table>/``. Pattern ``name/``. Default ``features-store/``.
    features_prefix: str = shared.FEATURES_PREFIX

    def __post_init__(self) -> None:
        require_glue_name(self, "database_name")
        require_prefix(self, "features_prefix")
