"""The promoted PCA basis and classifier, followed without a redeploy: LATEST re-read every TTL seconds.

A warm container keeps the heads it built. At most every ``ttl_seconds`` it reads the two registries'
``LATEST`` pointers again (two small GETs) and loads a version only when a pointer names another one,
with the same loaders as the batch job (``spark_app.models.registry``). Until a classifier is promoted
the heads have none and the answer says so (``no_classifier``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from spark_app.core.defaults import LATEST
from spark_app.core.heads import Heads
from spark_app.models import registry


class PromotedHeads:
    """The heads of the promoted versions for features of one CNN, re-checked every ``ttl_seconds``."""

    def __init__(
        self,
        pca_model_dir: str,
        classifier_dir: str,
        *,
        model_version: str,
        threshold: float,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.pca_model_dir, self.classifier_dir = pca_model_dir, classifier_dir
        self.model_version, self.threshold, self.ttl_seconds = model_version, threshold, ttl_seconds
        self._clock = clock
        self._checked_at = -math.inf
        self._loaded: dict[str, Any] = {}  # version URI -> Basis or Classifier
        self._heads = Heads(threshold=threshold)
        #: How many times the LATEST pointers were read (for tests and logs).
        self.refreshes = 0

    def current(self) -> Heads:
        """The heads to answer with now (reads LATEST again when the last read is older than the TTL)."""
        now = self._clock()
        if now - self._checked_at >= self.ttl_seconds:
            self._heads = self._read()
            self._checked_at = now
            self.refreshes += 1
        return self._heads

    def expire(self) -> None:
        """Forget when LATEST was read: the next :meth:`current` reads it again."""
        self._checked_at = -math.inf

    def _read(self) -> Heads:
        basis = self._promoted(self.pca_model_dir, registry.load_basis)
        classifier = self._promoted(self.classifier_dir, registry.load_classifier)
        return Heads.for_model(self.model_version, basis, classifier, self.threshold)

    def _promoted(self, model_dir: str, load: Callable[[str], Any]) -> Any:
        uri = registry.resolve(LATEST, model_dir)
        if uri is None:
            return None
        if uri not in self._loaded:
            self._loaded[uri] = load(uri)
        return self._loaded[uri]
