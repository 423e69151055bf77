"""Every torchvision model of the catalog analysed as an instance gives the records of its catalog name."""

from __future__ import annotations

import pytest

from metrics_core.sources.catalog import catalog

NAMES = [s.name for s in catalog() if s.supported]


@pytest.mark.parametrize("name", NAMES)
def test_instance_equals_name(name: str) -> None:
    import metrics_core as mc
    from metrics_core.capture.inputs import make_feed
    from metrics_core.runtime.engines import analyze_spec
    from metrics_core.runtime.options import AnalysisOptions
    from metrics_core.sources.build import build_model
    from metrics_core.sources.catalog import get_spec
    from metrics_core.sources.spec import default_inputs

    spec = get_spec(name)
    by_name = analyze_spec(spec, AnalysisOptions(use_cache=False))
    model = build_model(spec, device="meta")
    feed = make_feed(default_inputs(spec), 1, model)
    inst = mc.analyze(model, *feed.args, name=name, dtype="fp32", **feed.kwargs)
    assert by_name.error is None
    assert [r.to_dict() for r in inst.records] == [r.to_dict() for r in by_name.records]
    assert inst.metrics == by_name.metrics
    assert inst.extras["memory"] == by_name.extras["memory"]
