"""People's corrections: the record and its validation, where it is stored, and the trust rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from spark_app.core.corrections import (
    Correction,
    CorrectionError,
    correction_key,
    identity_prefix,
    known_classes,
    new_correction,
    parse_correction,
    trusted_labels,
)

ALICE, BOB, MALLORY = (f"eu-west-3:{n:08x}-0000-4000-8000-000000000000" for n in (1, 2, 3))
KNOWN = {"Kiwi", "Lemon", "Apple Braeburn"}
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def image(n: int) -> str:
    return f"{n:064x}"


def correct(identity: str, photo: str, image_id: str, label: str, *, minutes: int = 0, new: bool = False):
    return new_correction(
        identity,
        photo,
        image_id,
        label,
        known_classes=KNOWN,
        new_class=new,
        classifier_version="clf-raw-x",
        model_version="mobilenet@x",
        corrected_at=T0 + timedelta(minutes=minutes),
    )


def test_a_correction_is_one_json_line_under_its_identity_and_round_trips() -> None:
    c = correct(ALICE, "photo-1", image(1), "Kiwi")
    assert c.key == f"corrections/{ALICE}/photo-1.json" == correction_key(ALICE, "photo-1")
    assert c.key.startswith(identity_prefix(ALICE))
    text = c.to_json()
    assert text.endswith("\n") and text.count("\n") == 1  # what the Glue table's JSON SerDe needs
    document = json.loads(text)
    assert document["corrected_at"] == "2026-12-01T10:00:00.000+00:00" and document["new_class"] is False
    assert parse_correction(text) == c


@pytest.mark.parametrize(
    ("label", "new", "message"),
    [
        ("Kiwii", False, r"'Kiwii' is not a known class; did you mean 'Kiwi'\?"),
        ("Mango", False, r"'Mango' is not a known class; \(or propose it as a new class\)"),
        ("kiwi", True, r"'kiwi' is the known class 'Kiwi': send it as a correction"),
        ("unknown", False, r"'unknown' is an answer, not a class"),
        ("", False, "the label is empty"),
        (" Kiwi", False, "leading or trailing spaces"),
        ("Ki/wi", True, "control character or '/'"),
        ("x" * 129, True, "longer than 128"),
    ],
)
def test_labels_are_checked_against_the_known_classes(label: str, new: bool, message: str) -> None:
    with pytest.raises(CorrectionError, match=message):
        correct(ALICE, "p", image(1), label, new=new)


def test_a_new_class_is_a_proposal_and_nothing_is_known_before_a_first_classifier() -> None:
    assert correct(ALICE, "p", image(1), "Mango", new=True).new_class is True
    with pytest.raises(CorrectionError, match="no known class yet"):
        new_correction(ALICE, "p", image(1), "Kiwi", known_classes=())
    assert known_classes(None) == frozenset()
    assert known_classes({"labels": ["Kiwi"], "curated_labels": ["Kiwi", "Pear"]}) == {"Kiwi", "Pear"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("identity_id", "eu-west-3:../../x", "is not a Cognito identity id"),
        ("identity_id", "alice", "is not a Cognito identity id"),
        ("identity_id", "eu-west-3:" + "a" * 60, "is not a Cognito identity id"),
        ("photo_id", "../up", "photo id '../up' must be"),
        ("photo_id", "a/b", "photo id 'a/b' must be"),
        ("image_id", "ABC", "is not a sha256"),
        ("corrected_at", "yesterday", "is not an ISO 8601 time"),
        ("corrected_at", "2026-12-01T10:00:00+01:00", "must be in UTC"),
        ("corrected_at", "2026-12-01T10:00:00", "must be in UTC"),
        ("new_class", "no", "new_class must be true or false"),
    ],
)
def test_every_field_is_checked_when_built_or_read_back(field: str, value: object, message: str) -> None:
    document = json.loads(correct(ALICE, "p", image(1), "Kiwi").to_json())
    document[field] = value
    with pytest.raises(CorrectionError, match=message):
        parse_correction(json.dumps(document))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not a JSON object"),
        ("[1]", "not a JSON object"),
        ('{"identity_id": "x"}', r"missing field\(s\): image_id, photo_id"),
        ('{"identity_id": "x", "photo_id": "p", "image_id": "i", "exif": 1}', r"unexpected field\(s\): exif"),
    ],
)
def test_malformed_stored_objects_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(CorrectionError, match=message):
        parse_correction(text)


def _trust(corrections: list[Correction], *, cap: float = 5.0, curated=(), uncurated=None):
    return trusted_labels(
        corrections,
        classes={"Kiwi", "Lemon"},
        curated_images=set(curated),
        uncurated_images=set(uncurated if uncurated is not None else (c.image_id for c in corrections)),
        max_weight_per_identity=cap,
    )


def test_an_honest_persons_few_corrections_count_as_curated_images() -> None:
    trust = _trust([correct(ALICE, f"p{n}", image(n), "Kiwi") for n in range(3)])
    assert [(t.label, t.weight, t.identities) for t in trust.labels] == [("Kiwi", 1.0, 1)] * 3
    assert trust.counts["images"] == 3 and trust.counts["weight"] == 3.0 and trust.counts["identities"] == 1


def test_one_identitys_many_corrections_together_weigh_at_most_the_cap() -> None:
    flood = [correct(MALLORY, f"p{n}", image(n), "Lemon") for n in range(500)]
    trust = _trust(flood, cap=5.0)
    assert len(trust.labels) == 500 and trust.counts["weight"] == pytest.approx(5.0)
    assert [t.weight for t in trust.labels] == pytest.approx([0.01] * 500)


def test_the_latest_vote_of_an_identity_counts_once_and_identities_weigh_against_each_other() -> None:
    votes = [
        correct(ALICE, "p1", image(1), "Lemon", minutes=0),
        correct(ALICE, "p1-again", image(1), "Kiwi", minutes=5),  # the same bytes, later: this one counts
        correct(BOB, "b1", image(1), "Kiwi"),
        correct(MALLORY, "m1", image(1), "Lemon"),
        correct(ALICE, "p2", image(2), "Kiwi"),
        correct(MALLORY, "m2", image(2), "Lemon"),  # one against one: a tie, the image is dropped
    ]
    trust = _trust(votes)
    assert [(t.image_id, t.label, t.weight, t.identities) for t in trust.labels] == [
        (image(1), "Kiwi", 1.0, 2)  # 2 - 1 = a margin of one image
    ]
    assert trust.counts["votes"] == 5 and trust.counts["disagreement"] == 1


def test_curated_labels_win_and_proposals_unknown_classes_and_featureless_images_never_vote() -> None:
    votes = [
        correct(ALICE, "a", image(1), "Kiwi"),  # a curated image: its curated label stays
        correct(ALICE, "b", image(2), "Mango", new=True),  # a proposal, kept apart
        correct(ALICE, "c", image(3), "Apple Braeburn"),  # known, but not a class being trained
        correct(ALICE, "d", image(4), "Kiwi"),  # no features (yet) for these bytes
        correct(ALICE, "e", image(5), "Lemon"),
    ]
    trust = _trust(votes, curated={image(1)}, uncurated={image(2), image(3), image(5)})
    assert [t.image_id for t in trust.labels] == [image(5)]
    counts = trust.counts
    assert (counts["curated"], counts["new_class"], counts["outside_classes"], counts["no_features"]) == (
        1,
        1,
        1,
        1,
    )
    assert counts["read"] == 5 and counts["votes"] == 1
    assert _trust([]).labels == () and _trust([]).counts["read"] == 0
