"""The Python API on instances: ``metrics_core.analyze(model, ...)``, ``Report``, ``diff``, user cost rules
and ``record``. Values are derived by hand in the comments."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.utils.prune
import torchvision
from torch import nn

import metrics_core as mc
from metrics_core.common.errors import ModeltuiError, UsageError


class TwoInputs(nn.Module):
    """Linear(8->16) on x plus Linear(4->16) on the keyword y."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 16)
        self.b = nn.Linear(4, 16)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.a(x) + self.b(y)


def _snapshot(model: nn.Module) -> dict:
    """Everything the API must leave as it was: tensors (values, objects, devices), modes, hooks."""
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "objects": [id(p) for p in model.parameters()] + [id(b) for b in model.buffers()],
        "modes": [m.training for m in model.modules()],
        "hooks": [
            (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
            for m in model.modules()
        ],
        "devices": {str(p.device) for p in model.parameters()},
        "grad": [p.requires_grad for p in model.parameters()],
        "attrs": [sorted(vars(m)) for m in model.modules()],
    }


def _same(before: dict, model: nn.Module) -> bool:
    after = _snapshot(model)
    state_ok = all(torch.equal(before["state"][k], v) for k, v in after["state"].items())
    return state_ok and all(before[k] == after[k] for k in before if k != "state")


def test_two_inputs_with_a_keyword_hand_values() -> None:
    # batch 2: a = 2*8*16 = 256 MACs, b = 2*4*16 = 128 MACs; 384 MACs in all. Params 8*16+16 + 4*16+16 = 224.
    model = TwoInputs().train()
    before = _snapshot(model)
    r = mc.analyze(model, torch.randn(2, 8), y=torch.randn(2, 4))
    assert r.metrics.macs == 384
    assert r.metrics.params == 224
    assert r.batch_size == 2
    assert r.inputs == [
        {"name": None, "dtype": "float32", "shape": [2, 8]},
        {"name": "y", "dtype": "float32", "shape": [2, 4]},
    ]
    assert [(row["module"], row["macs"], row["params"]) for row in r.by_module()] == [
        ("a", 256, 144),
        ("b", 128, 80),
        ("(model)", 0, 0),
    ]
    assert _same(before, model)


def test_shapes_and_specs_are_the_same_inputs_as_tensors() -> None:
    model = TwoInputs()
    tensors = mc.analyze(model, torch.randn(2, 8), y=torch.randn(2, 4))
    shapes = mc.analyze(model, (2, 8), y=(2, 4))
    specs = mc.analyze(model, "float:8", y="float:4", batch_size=2)
    for r in (shapes, specs):
        assert [x.to_dict() for x in r.records] == [x.to_dict() for x in tensors.records]


def test_bf16_model_is_analysed_in_its_own_dtype() -> None:
    # 224 params at 2 bytes: 448 weight bytes read once each by the two addmm ops.
    model = TwoInputs().to(torch.bfloat16)
    r = mc.analyze(model, (2, 8), y=(2, 4))
    assert r.dtype == "bf16"
    assert r.metrics.weight_bytes == 448
    assert r.inputs[0]["dtype"] == "bfloat16"


def test_hooks_run_and_the_model_is_restored_even_when_pruned() -> None:
    # torch's pruning re-computes `weight` in a forward pre-hook and stores it as a plain attribute: the
    # capture runs it on meta tensors, and the real attribute must be back afterwards.
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    torch.nn.utils.prune.l1_unstructured(model[0], "weight", amount=0.5)
    calls = []
    model[2].register_forward_hook(lambda m, i, o: calls.append(o.device.type))
    before = _snapshot(model)
    weight = model[0].weight
    r = mc.analyze(model, (4, 8))
    assert calls == ["meta"]
    assert model[0].weight is weight and weight.device.type == "cpu"
    assert _same(before, model)
    # the hook's weight = weight_orig * weight_mask is one extra mul of 64 elements (64 FLOPs)
    assert [(x.op, x.flops) for x in r.records if x.op == "mul"] == [("mul", 64)]


def test_tied_weights_stay_tied_and_count_once() -> None:
    # an embedding tied to the output projection: 10*6 = 60 params once, not twice
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(10, 6)
            self.out = nn.Linear(6, 10, bias=False)
            self.out.weight = self.emb.weight

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.out(self.emb(ids))

    r = mc.analyze(Tied(), torch.tensor([[1, 2, 3]]))
    assert r.metrics.params == 60
    assert r.metrics.macs == 3 * 6 * 10  # 3 tokens x 6 x 10


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mc.analyze(42), "analyze() takes an nn.Module or a model name (e.g. 'resnet50'), got a int"),
        (lambda: mc.analyze(TwoInputs()), "give TwoInputs's example inputs"),
        (lambda: mc.analyze(TwoInputs(), (2, 5), y=(2, 4)), "TwoInputs.forward failed on the inputs given"),
        (lambda: mc.analyze(TwoInputs(), object()), "input 0 is a object: pass a tensor"),
        (lambda: mc.analyze(TwoInputs(), (2, 8), y=(2, 4), dtype="fp12"), "unknown dtype 'fp12'"),
        (
            lambda: mc.analyze("resnet18", batch_sise=2),
            "unknown option 'batch_sise'; did you mean batch_size?",
        ),
        (lambda: mc.analyze(TwoInputs(), (2, 8), y=(2, 4), hardware="a100"), "unknown hardware"),
    ],
)
def test_bad_input_is_one_line(call, message: str) -> None:  # noqa: ANN001
    with pytest.raises(ModeltuiError) as info:
        call()
    text = str(info.value)
    assert message in text
    assert "\n" not in text


def test_report_tables_and_exports_are_the_clis() -> None:
    model = torchvision.models.resnet18()
    r = mc.analyze(model, (1, 3, 224, 224), name="resnet18", hardware="a100-sxm4-80gb", dtype="fp16")
    modules = r.by_module(2)
    # every op and parameter falls in exactly one module path
    assert sum(m["macs"] for m in modules) == r.metrics.macs == 1_814_073_344
    assert sum(m["params"] for m in modules) == r.metrics.params == 11_689_512
    assert [m["module"] for m in modules[:6]] == ["conv1", "bn1", "relu", "maxpool", "layer1.0", "layer1.1"]
    ops = r.by_op()
    assert len(ops) == 68 and ops[0]["op"] == "convolution" and ops[0]["estimate"] is True
    summary = json.loads(r.to_json())
    assert summary[0]["model"] == "resnet18"
    assert summary[0]["context"]["hardware"] == "a100-sxm4-80gb"
    assert summary[0]["context"]["execution"] == "eager"
    assert summary[0]["context"]["efficiency"] == "calibrated"
    assert summary[0]["roofline"]["latency_s"] == pytest.approx(r.estimate.latency_s)
    csv_head = r.to_csv().splitlines()[0].split(",")
    assert csv_head[:4] == ["index", "module", "module_type", "op"] and "est_time_s" in csv_head
    frame = r.to_pandas("modules")
    assert list(frame["module"])[:2] == ["conv1", "bn1"]
    text = str(r)
    assert text.startswith("resnet18: 11.69M params, 1.81G MACs")
    assert "<details>" in r._repr_html_()
    assert r.on("h100-sxm5-80gb").target.id == "h100-sxm5-80gb"


@pytest.mark.parametrize("target, validated", [("rtx-4090", True), ("l4", False)])
def test_report_context_is_the_clis(target: str, validated: bool, capsys) -> None:  # noqa: ANN001
    """The API's JSON context lacked ``validated`` and ``efficiency_source``, which the CLI's has: the
    RTX 4090's fp16 eager vision estimates are validated (``[validated]`` in data/efficiency.toml), the
    L4's are physical estimates. The same context but the API's ``model``."""
    from tui.cli import main

    r = mc.analyze(
        torchvision.models.resnet18(), (1, 3, 224, 224), name="resnet18", hardware=target, dtype="fp16"
    )
    api = json.loads(r.to_json())[0]["context"]
    assert main(["compare", "resnet18", "--hardware", target, "--dtype", "fp16", "--format", "json"]) == 0
    cli = json.loads(capsys.readouterr().out)[0]["context"]
    assert (api["validated"], api["efficiency_source"]) == (validated, "built-in")
    assert {k: v for k, v in api.items() if k != "model"} == cli


def test_estimate_defaults_equal_the_cli(capsys) -> None:  # noqa: ANN001
    from tui.cli import main

    assert (
        main(["compare", "resnet18", "--hardware", "a100-sxm4-80gb", "--dtype", "fp16", "--format", "json"])
        == 0
    )
    cli = json.loads(capsys.readouterr().out)[0]["roofline"]
    api = mc.analyze("resnet18", hardware="a100-sxm4-80gb", dtype="fp16").estimate
    inst = mc.analyze(
        torchvision.models.resnet18(), (1, 3, 224, 224), hardware="a100-sxm4-80gb", dtype="fp16"
    )
    assert cli["latency_s"] == pytest.approx(api.latency_s, rel=1e-12)
    assert inst.estimate.latency_s == pytest.approx(api.latency_s, rel=1e-12)
    assert cli["bound"] == api.bound == inst.estimate.bound


def _prune_last_block(model: nn.Module) -> nn.Module:
    """resnet50's layer4[2] with its bottleneck width halved (512 -> 256 channels): structured pruning."""
    block = model.layer4[2]
    block.conv2 = nn.Conv2d(512, 256, 3, padding=1, bias=False)
    block.bn2 = nn.BatchNorm2d(256)
    block.conv3 = nn.Conv2d(256, 2048, 1, bias=False)
    return model


def test_diff_resnet50_vs_its_pruned_variant() -> None:
    # layer4[2] runs at 7x7 = 49 positions.
    # conv2 3x3 512->512: 512*512*9*49 = 115,605,504 MACs; pruned 512->256: 57,802,752 (-57,802,752)
    # conv3 1x1 512->2048: 512*2048*49 = 51,380,224 MACs; pruned 256->2048: 25,690,112 (-25,690,112)
    # MACs delta -83,492,864. Params: conv2 -1,179,648 (512*256*9), bn2 -512 (2*256), conv3 -524,288.
    base = mc.analyze(torchvision.models.resnet50(), (1, 3, 224, 224), name="resnet50")
    pruned = mc.analyze(_prune_last_block(torchvision.models.resnet50()), (1, 3, 224, 224), name="pruned")
    d = base.diff(pruned)
    assert d.aligned_by == "path"
    totals = {t["metric"]: t["delta"] for t in d.totals()}
    assert totals["macs"] == -83_492_864
    assert totals["params"] == -1_704_448
    changed = [m for m in d.modules() if m["status"] != "same"]
    assert [(m["module"], m["delta_macs"], m["delta_params"]) for m in changed] == [
        ("layer4", -83_492_864, -1_704_448)
    ]
    deep = base.diff(pruned, depth=2)
    assert [m["module"] for m in deep.modules() if m["status"] != "same"] == ["layer4.2"]
    assert "layer4.2" in str(deep) and json.loads(deep.to_json())["totals"][1]["delta"] == -83_492_864


def test_diff_of_two_architectures_aligns_by_stage_order() -> None:
    a = mc.analyze(torchvision.models.resnet18(), (1, 3, 224, 224), name="resnet18")
    b = mc.analyze(torchvision.models.mobilenet_v2(), (1, 3, 224, 224), name="mobilenet_v2")
    d = a.diff(b)
    assert d.aligned_by == "stage order"
    assert d.modules()[0]["module"] == "conv1 -> features"
    assert {t["metric"]: t["delta"] for t in d.totals()}["params"] == 3_504_872 - 11_689_512


# ------------------------------------------------------------------------------------------ cost rules
@torch.library.custom_op("modeltui_test::scale_rows", mutates_args=())
def scale_rows(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return x * w[:, None]


@scale_rows.register_fake
def _(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


class UsesCustomOp(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return scale_rows(x, x.sum(1))


@pytest.fixture
def clean_rules():  # noqa: ANN201
    yield
    mc.remove_cost_rule("modeltui_test::scale_rows")


def test_custom_op_without_a_rule_is_uncovered_by_name() -> None:
    r = mc.analyze(UsesCustomOp(), (4, 8))
    assert r.coverage.uncovered == {"modeltui_test::scale_rows": 1}


def test_custom_op_with_a_user_rule(clean_rules) -> None:  # noqa: ANN001
    # one multiply per element of the (4, 8) input: 32 FLOPs, no MACs
    mc.register_cost_rule("modeltui_test::scale_rows", lambda args, kwargs, out: (0, args[0].numel()))
    r = mc.analyze(UsesCustomOp(), (4, 8))
    assert r.coverage.complete
    assert [(x.op, x.flops, x.category) for x in r.records if "scale" in x.op] == [
        ("modeltui_test::scale_rows", 32, "elementwise")
    ]


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        (lambda a, k, o: 1 // 0, "ZeroDivisionError: integer division or modulo by zero"),
        (
            lambda a, k, o: (1, -2),
            "ValueError: returned (1, -2), not two non-negative integers (macs, flops)",
        ),
    ],
)
def test_a_failing_user_rule_is_reported_by_name(clean_rules, rule, error: str) -> None:  # noqa: ANN001
    mc.register_cost_rule("modeltui_test::scale_rows", rule)
    r = mc.analyze(UsesCustomOp(), (4, 8))
    assert r.coverage.uncovered == {"modeltui_test::scale_rows": 1}
    assert r.coverage.rule_errors == {"modeltui_test::scale_rows": error}


def test_register_cost_rule_refuses_bad_arguments() -> None:
    with pytest.raises(UsageError, match="unknown category 'gemm'"):
        mc.register_cost_rule("x::y", lambda a, k, o: (0, 0), category="gemm")
    with pytest.raises(UsageError, match="fn must be callable"):
        mc.register_cost_rule("x::y", 3)


def test_cli_rules_module(tmp_path, monkeypatch, capsys) -> None:  # noqa: ANN001
    # a factory module whose model uses the custom op, and a rules module registering its rule
    (tmp_path / "my_models.py").write_text(
        "import torch\nfrom tests.test_api_instance import UsesCustomOp\n"
        "def build():\n    return UsesCustomOp()\n"
    )
    (tmp_path / "my_rules.py").write_text(
        "import metrics_core\n"
        "metrics_core.register_cost_rule(\n"
        "    'modeltui_test::scale_rows', lambda a, k, o: (0, 3 * a[0].numel())\n"
        ")\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from tui.cli import main

    try:
        args = ["layers", "my_models:build", "--input", "float:8", "--batch-size", "4", "--format", "json"]
        assert main([*args, "--rules", "my_rules"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert [(r["op"], r["flops"]) for r in rows if "scale" in r["op"]] == [
            ("modeltui_test::scale_rows", 96)
        ]
        assert main([*args, "--rules", "no_such_rules_mod"]) == 2
        err = capsys.readouterr().err
        assert "--rules no_such_rules_mod: cannot import it: ModuleNotFoundError" in err
    finally:
        mc.remove_cost_rule("modeltui_test::scale_rows")


# ------------------------------------------------------------------------------------------ record
def test_record_forward_and_backward_hand_values() -> None:
    # Linear(8->16), batch 2. forward addmm: 2*8*16 = 256 MACs. backward: grad input (2x16 @ 16x8) = 256
    # MACs (x requires grad) and grad weight (16x2 @ 2x8) = 256 MACs: the step's matmul MACs are 3 x 256.
    model = nn.Linear(8, 16)
    before = _snapshot(model)
    x = torch.randn(2, 8, requires_grad=True)
    with mc.record(model, batch_size=2) as rec:
        model(x).sum().backward()
    report = rec.report
    assert sum(r.macs for r in report.records if r.category == "matmul") == 768
    assert [r.module for r in report.records if r.op == "addmm"] == [""]
    assert report.metrics.params == 144
    assert model.weight.grad is not None
    model.zero_grad(set_to_none=True)
    assert _same(before, model)


def test_record_names_submodules_and_refuses_a_non_module() -> None:
    model = TwoInputs()
    x, y = torch.randn(2, 8), torch.randn(2, 4)
    with mc.record(model) as rec, torch.no_grad():
        model(x, y)
    assert [(r.module, r.op, r.macs) for r in rec.report.records] == [
        ("a", "addmm", 256),
        ("b", "addmm", 128),
        ("", "add", 0),
    ]
    with pytest.raises(UsageError, match="record\\(\\) takes an nn.Module"), mc.record("resnet18"):
        pass


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_model_on_cuda_is_analysed_without_device_memory() -> None:
    model = TwoInputs().cuda()
    used = torch.cuda.memory_allocated()
    r = mc.analyze(model, torch.randn(2, 8, device="cuda"), y=torch.randn(2, 4, device="cuda"))
    assert r.metrics.macs == 384
    assert torch.cuda.memory_allocated() == used
    assert next(model.parameters()).device.type == "cuda"


# ------------------------------------------------------------------------------------------ new users' cases
class WithMode(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor, mode: str = "sum", name: str = "") -> torch.Tensor:
        y = self.lin(x)
        return y.sum() if mode == "sum" else y


def test_strings_reach_forward_unless_they_are_specs() -> None:
    # "other" is not a DTYPE:DIMS spec: passed through; forward_kwargs never parse strings (name collides)
    r = mc.analyze(WithMode(), (2, 8), mode="other", forward_kwargs={"name": "int64:8"})
    assert [x.op for x in r.records] == ["addmm"]  # no sum: mode "other" reached forward
    assert [x.op for x in mc.analyze(WithMode(), (2, 8)).records] == ["addmm", "sum"]


def test_hooks_a_library_registers_on_first_call_are_removed() -> None:
    # as transformers' output capture does: the first forward registers a hook on a child and sets a flag
    class Lazy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if not getattr(self, "_hooked", False):
                self.lin.register_forward_hook(lambda m, i, o: None)
                self._hooked = True
            return self.lin(x)

    model = Lazy()
    for _ in range(3):
        mc.analyze(model, (1, 4))
    assert len(model.lin._forward_hooks) == 0 and not hasattr(model, "_hooked")


def test_a_model_without_flops_prints() -> None:
    text = str(mc.analyze(nn.Identity(), (2, 3)))
    assert text.startswith("Identity: 0 params, 0 MACs, 0 FLOPs, 0 B traffic, AI - FLOP/B")


def test_diff_compares_times_only_when_both_have_them() -> None:
    a = mc.analyze(TwoInputs(), (2, 8), y=(2, 4), name="a")
    b = mc.analyze(WithMode(), (2, 8), name="b")
    one_sided = a.on("l4").diff(b)
    assert one_sided.timed is False
    assert {r["delta_est_time_s"] for r in one_sided.modules()} == {None}
    assert "Time delta" not in str(one_sided)
    two = a.on("l4").diff(b.on("h100-sxm5-80gb"))
    # each side says whether its target's estimates were validated (data/efficiency.toml [validated]:
    # the RTX 4090's fp16 eager vision estimates are; the L4's and the H100's fp32 ones are not)
    assert two.time_basis() == (
        "estimates: a on NVIDIA L4 fp32 (eager, calibrated efficiency; physical estimate, not validated); "
        "b on NVIDIA H100 SXM5 80GB fp32 (eager, calibrated efficiency; physical estimate, not validated)"
    )
    a16 = mc.analyze(TwoInputs(), (2, 8), y=(2, 4), name="a", hardware="rtx-4090", dtype="fp16")
    same = a16.diff(mc.analyze(WithMode(), (2, 8), name="b", hardware="rtx-4090", dtype="fp16"))
    assert same.time_basis() == (
        "estimates on NVIDIA GeForce RTX 4090 fp16 (eager, calibrated efficiency; validated on this target)"
    )


def test_record_skips_an_analysis_run_inside_it() -> None:
    # the block's own forward: 2*8*16 + 2*4*16 = 384 MACs; the nested analyze's meta ops are not counted
    model = TwoInputs()
    x, y = torch.randn(2, 8), torch.randn(2, 4)
    with mc.record(model) as rec, torch.no_grad():
        model(x, y)
        mc.analyze(model, (2, 8), y=(2, 4))
    assert rec.report.metrics.macs == 384


def test_aten_rules_by_either_name_and_bad_names(clean_rules) -> None:  # noqa: ANN001
    try:
        mc.register_cost_rule("aten::addmm", lambda a, k, o: (7, 14), category="matmul")
        assert [x.macs for x in mc.analyze(TwoInputs(), (2, 8), y=(2, 4)).records if x.op == "addmm"] == [
            7,
            7,
        ]
    finally:
        assert mc.remove_cost_rule("aten::addmm")
    with pytest.raises(UsageError, match="did you mean 'addmm', or 'aten::addmm'"):
        mc.register_cost_rule("aten.addmm.default", lambda a, k, o: (0, 0))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mc.analyze(TwoInputs(), (2, 8), y=(2, 4), hardware=123), "hardware must be a target id"),
        (
            lambda: mc.analyze(TwoInputs(), (2, 8), hardwre="l4"),
            "takes no argument 'hardwre'; did you mean hardware",
        ),
        (
            lambda: mc.analyze(TwoInputs(), (2.0, 8), y=(2, 4)),
            "input 0: shape (2.0, 8) must be positive integers",
        ),
        (
            lambda: mc.analyze(TwoInputs(), (2, 8), y=(2, 4), batch_size=5),
            "batch_size=5 applies to spec inputs",
        ),
        (lambda: mc.analyze(TwoInputs(), (2, 8), y=(2, 4), name=3), "name must be a string"),
    ],
)
def test_more_bad_input_is_one_line(call, message: str) -> None:  # noqa: ANN001
    with pytest.raises(ModeltuiError) as info:
        call()
    assert message in str(info.value) and "\n" not in str(info.value)


def test_numpy_inputs_and_torch_dtypes() -> None:
    import numpy as np

    r = mc.analyze(TwoInputs(), np.zeros((2, 8), dtype=np.float32), y=(2, 4), dtype=torch.float16)
    assert (r.metrics.macs, r.dtype) == (384, "fp16")


def test_by_module_params_sum_to_the_model_at_any_depth() -> None:
    r = mc.analyze(torchvision.models.resnet18(), (1, 3, 224, 224))
    for depth in (1, 2, 3, 4):
        assert sum(m["params"] for m in r.by_module(depth)) == 11_689_512
