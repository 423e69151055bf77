"""Issue 22: every bad input ends in one line and a non-zero exit, never a traceback; every cached file
is validated on read and rebuilt when wrong."""

from __future__ import annotations

import json

import pytest

from metrics_core.sources import timm_source

# A small index of the builder's schema (timm_index.build_index): two architectures, one tag.
GOOD_INDEX = {
    "version": "9.9",
    "models": {
        "resnet50": {"family": "resnet", "input_size": [3, 224, 224], "img_size_arg": False},
        "vit_tiny": {"family": "vision_transformer", "input_size": [3, 224, 224], "img_size_arg": True},
    },
    "tags": {"resnet50.a1_in1k": [3, 288, 288]},
}


@pytest.fixture
def fake_timm(tmp_path, monkeypatch):
    """timm 9.9 "installed", its index built by a counted stand-in for the subprocess."""
    monkeypatch.setenv("MODELTUI_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(timm_source, "timm_version", lambda: "9.9")
    builds = []

    def build() -> dict:
        builds.append(1)
        return json.loads(json.dumps(GOOD_INDEX))

    monkeypatch.setattr(timm_source, "_build_index_in_subprocess", build)
    monkeypatch.setattr(timm_source, "_build_index_here", build)
    timm_source.timm_index.cache_clear()
    yield timm_source.index_path("9.9"), builds
    timm_source.timm_index.cache_clear()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[1, 2]", "a JSON list, not an object"),  # was AttributeError
        (json.dumps({**GOOD_INDEX, "models": {"resnet50": [1]}}), "model 'resnet50' malformed"),  # TypeError
        (json.dumps({**GOOD_INDEX, "tags": []}), "a tag table that is not an object"),
        (json.dumps({**GOOD_INDEX, "tags": {"resnet50.x": "224"}}), "tag 'resnet50.x' malformed"),
        (json.dumps({**GOOD_INDEX, "models": {}}), "no model table"),  # was "unknown" until `cache clear`
        (json.dumps({**GOOD_INDEX, "version": "1.0"}), "for timm '1.0', not 9.9"),
        ("[" * 100_000, None),  # not JSON at all (too deep to parse)
    ],
    ids=["list", "entry-type", "tags-list", "tag-size", "empty", "version", "deep"],
)
def test_a_damaged_timm_index_is_rebuilt(fake_timm, content, problem):
    path, builds = fake_timm
    if problem is not None:
        assert timm_source.index_problem(json.loads(content), "9.9") == problem
    path.parent.mkdir(parents=True)
    path.write_text(content)
    spec = timm_source.get_spec("resnet50.a1_in1k")
    assert (spec.name, spec.input_shape) == ("timm:resnet50.a1_in1k", (3, 288, 288))
    assert spec.family == "timm/resnet"
    assert builds == [1]  # rebuilt once ...
    assert json.loads(path.read_text()) == GOOD_INDEX  # ... and the good index replaced the file
    timm_source.timm_index.cache_clear()
    assert timm_source.list_names() == ["resnet50", "vit_tiny"] and builds == [1]  # read back, not rebuilt


def test_an_invalid_built_index_is_one_line(fake_timm, monkeypatch):
    monkeypatch.setattr(timm_source, "_build_index_in_subprocess", lambda: {"version": "9.9", "models": {}})
    monkeypatch.setattr(timm_source, "_build_index_here", lambda: {"version": "9.9", "models": {}})
    from metrics_core.common.errors import UsageError

    with pytest.raises(UsageError) as err:
        timm_source.list_names()
    assert str(err.value) == "timm: could not list timm's models: the index built is invalid (no model table)"
