"""The manifest format, accepted extensions and the label rule (shared with the Lambda)."""

from __future__ import annotations

import json

import pytest

from spark_app.core.formats import is_supported_name, unsupported_reason
from spark_app.core.labels import label_from_relative_path
from spark_app.core.manifest import (
    ManifestEntry,
    ManifestError,
    batch_id_for,
    dumps_manifest,
    manifest_key,
    parse_manifest,
)


def test_manifest_round_trip_sorted_and_deduplicated() -> None:
    entries = [
        ManifestEntry("s3://b/uploads/Kiwi/é 1.jpg", "Kiwi", 10, "e1"),
        ManifestEntry("s3://b/uploads/a.jpg"),
        ManifestEntry("s3://b/uploads/Kiwi/é 1.jpg", "Kiwi", 10, "e1"),
    ]
    text = dumps_manifest(entries)
    assert text.count("\n") == 2
    parsed = parse_manifest(text)
    assert [e.uri for e in parsed] == ["s3://b/uploads/Kiwi/é 1.jpg", "s3://b/uploads/a.jpg"]
    assert parsed[0] == entries[0]
    assert json.loads(text.splitlines()[0])["label"] == "Kiwi"


def test_manifest_blank_lines_ignored_duplicates_kept_once() -> None:
    text = '{"uri": "/x/a.jpg"}\n\n{"uri": "/x/a.jpg", "label": "A"}\n{"uri": "/x/b.jpg", "label": null}\n'
    assert [(e.uri, e.label) for e in parse_manifest(text)] == [("/x/a.jpg", None), ("/x/b.jpg", None)]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "line 2: not valid JSON"),
        ('["s3://b/k"]', "line 2: expected a JSON object"),
        ('{"label": "x"}', "line 2: 'uri' must be a non-empty string"),
        ('{"uri": "s3://b/k", "size": -1}', "line 2: 'size' must be a non-negative integer"),
        ('{"uri": "s3://b/k", "label": 3}', "line 2: 'label' must be a string"),
        ('{"uri": "photos/a.jpg"}', "line 2: 'uri' 'photos/a.jpg' is relative"),
        ('{"uri": "./a.jpg"}', "line 2: 'uri' './a.jpg' is relative"),
    ],
)
def test_malformed_manifest_names_the_line(line: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse_manifest('{"uri": "s3://b/ok.jpg"}\n' + line)


def test_batch_id_depends_on_content_only() -> None:
    a = [ManifestEntry("s3://b/1.jpg", etag="x"), ManifestEntry("s3://b/2.jpg", etag="y")]
    assert batch_id_for(a) == batch_id_for(list(reversed(a)))
    assert batch_id_for(a) != batch_id_for([*a[:1], ManifestEntry("s3://b/2.jpg", etag="z")])
    assert batch_id_for(a).startswith("batch-") and len(batch_id_for(a)) <= 80
    assert manifest_key("manifests/", "batch-1") == "manifests/batch-1.jsonl"


@pytest.mark.parametrize("name", ["a.jpg", "A.JPG", "x.jpeg", "p.PNG", "g.gif", "w.webp", "t.TIFF", "b.bmp"])
def test_supported_extensions_case_insensitive(name: str) -> None:
    assert is_supported_name(name)


@pytest.mark.parametrize("name", ["notes.txt", "photo.heic", "README", "archive.jpg.zip"])
def test_unsupported_extensions(name: str) -> None:
    assert not is_supported_name(name)
    assert "unsupported file extension" in unsupported_reason(name)


@pytest.mark.parametrize(
    ("relative", "label"),
    [
        ("Kiwi/a.jpg", "Kiwi"),
        ("Training/Apple Braeburn/1.jpg", "Apple Braeburn"),
        ("a.jpg", None),
        ("/a.jpg", None),
    ],
)
def test_label_is_parent_folder(relative: str, label: str | None) -> None:
    assert label_from_relative_path(relative) == label
