"""People's corrections of their photos' labels: the record, its validation, where it is stored, and the
trust rule that turns many of them into training labels. No Spark, no AWS, no NumPy: the app's API can
use it as it is (``store/corrections.py`` reads and writes the objects, ``models/classifier.py`` trains).

A correction says "the photo ``photo_id`` that identity ``identity_id`` uploaded (bytes ``image_id``)
shows ``label``", against the answer it corrects (``classifier_version``, ``model_version``). The label
is one of the known classes, or a proposal of a new class (``new_class``), kept apart and never trained
on. Storage: ``<store>/corrections/<identity id>/<photo id>.json``, one JSON line per object; a new
correction of the same photo replaces the old one (the latest wins), and everything an identity wrote
lies under one prefix, listed and erased together.

The trust rule (:func:`trusted_labels`, argued in docs/classifier.md): curated labels win; one vote per
identity and image; all of one identity's votes together weigh at most ``max_weight_per_identity``
curated images; an image takes the label with the most weight, weighted by its margin over the others.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from spark_app.core.defaults import CORRECTIONS_DIR
from spark_app.core.labels import UNKNOWN

#: Cognito's IdentityId (``<region>:<uuid>``): pattern ``[\w-]+:[0-9a-f-]+``, 1 to 55 characters.
IDENTITY_PATTERN = re.compile(r"[A-Za-z0-9_-]+:[0-9a-f-]+")
IDENTITY_MAX_LENGTH = 55
#: A photo's id: one safe key segment (the app's door names uploads ``<identity>/<photo id>.<ext>``).
PHOTO_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: The features' ``image_id``: the sha256 of the photo's bytes, lower-case hex.
IMAGE_ID_PATTERN = re.compile(r"[0-9a-f]{64}")
LABEL_MAX_LENGTH = 128
SUFFIX = ".json"


class CorrectionError(ValueError):
    """A correction that cannot be accepted (the message says why, in one line)."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise CorrectionError(message)


def check_identity(identity_id: str) -> str:
    """``identity_id`` if it is a Cognito identity id (it becomes a key prefix: nothing else passes)."""
    _require(
        isinstance(identity_id, str)
        and len(identity_id) <= IDENTITY_MAX_LENGTH
        and IDENTITY_PATTERN.fullmatch(identity_id) is not None,
        f"identity id {identity_id!r} is not a Cognito identity id (<region>:<uuid>)",
    )
    return identity_id


def check_photo(photo_id: str) -> str:
    """``photo_id`` if it is one safe key segment: letters, digits, '.', '_', '-' (128 at most)."""
    _require(
        isinstance(photo_id, str) and PHOTO_PATTERN.fullmatch(photo_id) is not None,
        f"photo id {photo_id!r} must be 1-128 letters, digits, '.', '_' or '-' (first: a letter or digit)",
    )
    return photo_id


def _check_label_text(label: str) -> str:
    _require(isinstance(label, str) and label.strip() != "", "the label is empty")
    _require(label == label.strip(), f"label {label!r} has leading or trailing spaces")
    _require(len(label) <= LABEL_MAX_LENGTH, f"the label is longer than {LABEL_MAX_LENGTH} characters")
    _require(label.isprintable() and "/" not in label, f"label {label!r} has a control character or '/'")
    _require(label.lower() != UNKNOWN, f"{UNKNOWN!r} is an answer, not a class")
    return label


@dataclass(frozen=True)
class Correction:
    """One person's label for one of their photos (valid by construction: see :func:`new_correction`)."""

    identity_id: str
    photo_id: str
    image_id: str
    label: str
    new_class: bool
    corrected_at: str  # ISO 8601, UTC
    classifier_version: str | None = None  # the answer it corrects (None: the answer had no prediction)
    model_version: str | None = None  # the CNN of that answer

    def __post_init__(self) -> None:
        check_identity(self.identity_id)
        check_photo(self.photo_id)
        _require(
            isinstance(self.image_id, str) and IMAGE_ID_PATTERN.fullmatch(self.image_id) is not None,
            f"image id {self.image_id!r} is not a sha256 (64 lower-case hex digits)",
        )
        _check_label_text(self.label)
        _require(isinstance(self.new_class, bool), "new_class must be true or false")
        try:
            at = datetime.fromisoformat(self.corrected_at)
        except (TypeError, ValueError):
            raise CorrectionError(f"corrected_at {self.corrected_at!r} is not an ISO 8601 time") from None
        _require(at.utcoffset() is not None and not at.utcoffset(), "corrected_at must be in UTC")
        for name in ("classifier_version", "model_version"):
            value = getattr(self, name)
            _require(value is None or (isinstance(value, str) and 0 < len(value) <= 200), f"bad {name}")

    @property
    def key(self) -> str:
        """Where it is stored, relative to the store: ``corrections/<identity id>/<photo id>.json``."""
        return correction_key(self.identity_id, self.photo_id)

    def to_json(self) -> str:
        """One JSON line (what the Glue table's JSON SerDe reads)."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")) + "\n"


_FIELDS = {f.name for f in fields(Correction)}


def parse_correction(text: str) -> Correction:
    """A stored correction (its structure is checked again; the known classes may have changed since)."""
    try:
        document = json.loads(text)
    except ValueError:
        raise CorrectionError("not a JSON object") from None
    _require(isinstance(document, dict), "not a JSON object")
    unexpected, missing = set(document) - _FIELDS, {"identity_id", "photo_id", "image_id"} - set(document)
    _require(not unexpected, f"unexpected field(s): {', '.join(sorted(unexpected))}")
    _require(not missing, f"missing field(s): {', '.join(sorted(missing))}")
    try:
        return Correction(**document)
    except TypeError as exc:
        raise CorrectionError(str(exc)) from None


def new_correction(
    identity_id: str,
    photo_id: str,
    image_id: str,
    label: str,
    *,
    known_classes: Collection[str],
    new_class: bool = False,
    classifier_version: str | None = None,
    model_version: str | None = None,
    corrected_at: datetime | None = None,
) -> Correction:
    """A validated correction: ``label`` must be a known class, or (``new_class``) a new one."""
    _check_label_text(label)
    check_label(label, known_classes, new_class=new_class)
    return Correction(
        identity_id=identity_id,
        photo_id=photo_id,
        image_id=image_id,
        label=label,
        new_class=new_class,
        corrected_at=(corrected_at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds"),
        classifier_version=classifier_version,
        model_version=model_version,
    )


def check_label(label: str, known_classes: Collection[str], *, new_class: bool) -> None:
    """Refuse a correction to an unknown class, and a "new class" that is in fact a known one."""
    by_folded = {known.casefold(): known for known in known_classes}
    if new_class:
        same = by_folded.get(label.casefold())
        _require(
            same is None,
            f"{label!r} is the known class {same!r}: send it as a correction, not as a new class",
        )
        return
    if label in known_classes:
        return
    _require(bool(known_classes), f"no known class yet: {label!r} can only be proposed as a new class")
    close = difflib.get_close_matches(label.casefold(), list(by_folded), n=1, cutoff=0.6)
    hint = f"did you mean {by_folded[close[0]]!r}? " if close else ""
    raise CorrectionError(f"{label!r} is not a known class; {hint}(or propose it as a new class)")


def known_classes(version_info: Mapping[str, Any] | None) -> frozenset[str]:
    """The classes a correction may name: the promoted classifier's labels and every curated label it
    saw (its ``version.json``; nothing before a first classifier)."""
    if not version_info:
        return frozenset()
    return frozenset(version_info.get("labels", ())) | frozenset(version_info.get("curated_labels", ()))


def identity_prefix(identity_id: str) -> str:
    """Everything ``identity_id`` corrected, relative to the store: ``corrections/<identity id>/``."""
    return f"{CORRECTIONS_DIR}/{check_identity(identity_id)}/"


def correction_key(identity_id: str, photo_id: str) -> str:
    """``corrections/<identity id>/<photo id>.json``, relative to the store."""
    return f"{identity_prefix(identity_id)}{check_photo(photo_id)}{SUFFIX}"


# -- the trust rule ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustedLabel:
    """A corrected image's training label and its weight in (0, 1] (a curated image weighs 1)."""

    image_id: str
    label: str
    weight: float
    identities: int  # how many identities gave this label


#: Why a correction did not become a vote (the keys of :attr:`Trust.counts` besides the totals).
DROP_REASONS = ("new_class", "outside_classes", "curated", "no_features")


@dataclass(frozen=True)
class Trust:
    """The trusted labels and what happened to every correction read."""

    labels: tuple[TrustedLabel, ...]
    counts: dict[str, float]


def trusted_labels(
    corrections: Iterable[Correction],
    *,
    classes: Collection[str],
    curated_images: Collection[str],
    uncurated_images: Collection[str],
    max_weight_per_identity: float,
) -> Trust:
    """Training labels from corrections, by the trust rule.

    A correction becomes a vote when its label is one of ``classes`` (the classes being trained; "new
    class" proposals never vote), and its image has features but no curated label (curated labels win;
    an image without features cannot be trained on). One vote per identity and image (its latest). Each
    of an identity's n votes weighs ``min(1, max_weight_per_identity / n)``. An image takes the label
    with the most weight, with weight ``min(1, its weight - the runner-up's)``; a tie drops it.
    """
    if max_weight_per_identity <= 0:
        raise ValueError("max_weight_per_identity must be positive")
    counts: dict[str, float] = {"read": 0, **dict.fromkeys(DROP_REASONS, 0)}
    latest: dict[tuple[str, str], Correction] = {}
    for correction in corrections:
        counts["read"] += 1
        reason = _drop_reason(correction, classes, curated_images, uncurated_images)
        if reason:
            counts[reason] += 1
            continue
        vote = (correction.identity_id, correction.image_id)
        kept = latest.get(vote)
        if kept is None or _order(correction) > _order(kept):
            latest[vote] = correction
    votes_per_identity: dict[str, int] = defaultdict(int)
    for identity, _ in latest:
        votes_per_identity[identity] += 1
    support: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    voters: dict[tuple[str, str], int] = defaultdict(int)
    for (identity, image), correction in latest.items():
        support[image][correction.label] += min(1.0, max_weight_per_identity / votes_per_identity[identity])
        voters[(image, correction.label)] += 1
    labels = []
    for image in sorted(support):
        ranked = sorted(support[image].items(), key=lambda item: (-item[1], item[0]))
        label, weight = ranked[0]
        margin = weight - (ranked[1][1] if len(ranked) > 1 else 0.0)
        if margin > 1e-9:
            labels.append(TrustedLabel(image, label, min(1.0, margin), voters[(image, label)]))
    counts.update(
        votes=len(latest),
        identities=len(votes_per_identity),
        disagreement=len(support) - len(labels),
        images=len(labels),
        weight=round(sum(t.weight for t in labels), 6),
    )
    return Trust(tuple(labels), counts)


def _order(correction: Correction) -> tuple[datetime, str]:
    return datetime.fromisoformat(correction.corrected_at), correction.photo_id


def _drop_reason(
    correction: Correction,
    classes: Collection[str],
    curated_images: Collection[str],
    uncurated_images: Collection[str],
) -> str | None:
    if correction.new_class:
        return "new_class"
    if correction.label not in classes:
        return "outside_classes"
    if correction.image_id in curated_images:
        return "curated"
    if correction.image_id not in uncurated_images:
        return "no_features"
    return None
