"""The answer Lambda's part of an erasure: no answer for an upload whose identity is being erased."""

from __future__ import annotations

from spark_app.core.answers import answer_name
from spark_app.core.erasure import identity_digest, identity_in, tombstone_name
from spark_app.core.uris import is_s3_uri, join_uri, local_path
from spark_app.store import objects
from spark_app.store.tombstones import erasure_root


def erasing(uri: str, uploads_prefix: str, feature_store: str | None) -> bool:
    """True when ``uri`` is an app identity's upload and that identity has a tombstone (one HEAD)."""
    identity = identity_in(uri, uploads_prefix)
    if feature_store is None or identity is None:
        return False
    return objects.exists(join_uri(erasure_root(feature_store), tombstone_name(identity_digest(identity))))


def delete_answer(answers_root: str, key: str) -> None:
    """Delete the answer this invocation wrote (its identity's erasure began meanwhile)."""
    uri = join_uri(answers_root, answer_name(key))
    if is_s3_uri(uri):
        objects.delete_prefix(uri)
    else:
        local_path(uri).unlink(missing_ok=True)
