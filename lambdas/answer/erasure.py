"""The answer Lambda's part of an erasure: no answer for an upload whose identity is being erased."""

from __future__ import annotations

from spark_app.core.answers import answer_name
from spark_app.core.erasure import identity_digest, identity_in
from spark_app.core.uris import is_s3_uri, join_uri, local_path
from spark_app.store import objects
from spark_app.store.tombstones import tombstone_exists


def erasing(uri: str, uploads_prefix: str, feature_store: str | None) -> bool:
    """True when ``uri`` is an app identity's upload and its identity has a tombstone (one listing)."""
    identity = identity_in(uri, uploads_prefix)
    if feature_store is None or identity is None:
        return False
    return tombstone_exists(feature_store, identity_digest(identity))


def delete_answer(answers_root: str, key: str) -> None:
    """Delete the answer this invocation wrote (its identity's erasure began meanwhile)."""
    uri = join_uri(answers_root, answer_name(key))
    if is_s3_uri(uri):
        objects.delete_prefix(uri)
    else:
        local_path(uri).unlink(missing_ok=True)
