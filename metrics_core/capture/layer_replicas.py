"""Identical decoder layers captured once: a forward pass of a stack of L layers from a capture of its first
K, each later layer a copy of a captured layer of the same kind (``capture_replicated``).

Why it is exact. A decoder layer's ops depend on what the layer is (its submodules' classes, parameter
and buffer shapes, its scalar attributes: sliding window, attention type, rope or not ...; its entries in
the config's per-layer lists, ``layer_types`` ...) and on the tensors it is fed (the hidden states of the
layer before it; tensors shared by every layer, made before the first: rotary tables, masks). Layers with
the same *signature* (``layer_signature``) and the same signature before them (a *pair*) run the same ops
on tensors of the same shapes. So the capture of the first K layers gives every layer. K is the
smallest prefix that holds the first layer of each kind and the layer after it (the part before the
first layer may touch the first layer of each kind, a mask reading its cache length), in which every
pair of the other layers occurs twice, and whose last layer's pair is the model's last layer's. Layer
``i >= K`` is a copy of the last captured layer with its pair (its *template*), its records renamed
(``layers.j.`` -> ``layers.i.``) and its storages renumbered: the ones it allocates (or first reads: its
own KV cache) are new, the ones of the layer before it are that layer's copy's, the ones made before the
first layer are shared. The ops after the last layer (final norm, logits) read the last layer's copy.
The result is the ``Trace`` the full capture would give (records, storage events, sizes:
peak memory and data flow follow), tested against full captures of Llama, Mixtral, Gemma-2, Qwen2-MoE,
DeepSeek-V3 (dense first layers + MLA), Jamba and Llama-4 configs (``tests/test_layer_replicas.py``).

Checked at run time, else the full capture (same result, slower):

- the stack is one ``nn.ModuleList`` of ``num_hidden_layers`` layers (outside a vision tower), each
  layer called once, one after another, with no op between two layers;
- a layer reads storages of the layer just before it and of the part before the first layer only; the
  ops after the last layer read only the last layer's; no model output is made inside another layer;
- the last two captured layers of each pair have identical ops (same records but their names, same
  storage pattern): a layer whose ops depend on its index in a way its signature misses shows here;
- the prefix capture raised nothing (a model that indexes its layers by number falls back).

The layers run are the first K of the ``ModuleList`` (a shorter list put in its place during the
capture, restored after), so code that enumerates its layers and reads ``config.layer_types[i]`` sees the
right indices.
"""

from __future__ import annotations

import dataclasses
import os
import weakref
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from metrics_core.common.dtypes import ElementBits
from metrics_core.common.records import OpRecord

#: Module attributes that number a layer (its cache slot) without changing its ops: left out of the
#: signature. Any other scalar attribute that differs between layers makes them different kinds.
INDEX_ATTRIBUTES: frozenset[str] = frozenset({"layer_idx", "layer_id", "layer_index", "layer_number", "idx"})

#: Path parts of a vision tower, whose layer lists are never the decoder stack.
VISION_PARTS: frozenset[str] = frozenset({"vision_tower", "vision_model", "visual", "multi_modal_projector"})

#: Occurrences of each pair wanted in the captured prefix (the last two are compared).
OCCURRENCES = 2

#: ``MODELTUI_LAYER_REPLICAS=0`` captures every layer (benchmarks, checks of this module).
ENV_SWITCH = "MODELTUI_LAYER_REPLICAS"


def enabled() -> bool:
    """Whether identical layers are captured once (``MODELTUI_LAYER_REPLICAS`` is not ``0``)."""
    return os.environ.get(ENV_SWITCH, "1").strip() != "0"


@dataclass(frozen=True)
class LayerPlan:
    """Which decoder layers to capture and which copy the others.

    ``path``: the qualified name of the ``ModuleList`` (``model.layers``); ``owner`` / ``attribute``:
    where it hangs; ``layers``: the list itself; ``signatures``: per layer, what makes layers differ
    (``layer_signature``), numbered by first occurrence (0, 1, ...); ``prefix``: K, the layers captured;
    ``sources``: per layer, the captured layer whose records it takes (itself for ``i < K``)."""

    path: str
    owner: torch.nn.Module
    attribute: str
    layers: torch.nn.ModuleList
    signatures: tuple[int, ...]
    prefix: int
    sources: tuple[int, ...]

    @property
    def replicated(self) -> bool:
        """Whether any layer is a copy (K < L)."""
        return self.prefix < len(self.layers)


def _text_config(model: torch.nn.Module) -> Any:  # noqa: ANN401 (a transformers config)
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "get_text_config"):
        return config.get_text_config(decoder=True)
    return config


def decoder_stack(model: torch.nn.Module) -> tuple[str, torch.nn.Module, str, torch.nn.ModuleList] | None:
    """``(path, owner, attribute, ModuleList)`` of the decoder's layer stack: the one ``ModuleList`` of
    ``num_hidden_layers`` (at least 2) modules outside a vision tower; None when there is none or more than
    one (an encoder-decoder's two stacks)."""
    config = _text_config(model)
    n = getattr(config, "num_hidden_layers", None)
    if getattr(config, "is_encoder_decoder", False) or not isinstance(n, int) or n < 2:
        return None
    found = []
    for name, mod in model.named_modules():
        outside_vision = VISION_PARTS.isdisjoint(name.split("."))
        if isinstance(mod, torch.nn.ModuleList) and len(mod) == n and outside_vision:
            found.append((name, mod))
    if len(found) != 1:
        return None
    path, stack = found[0]
    owner_path, _, attribute = path.rpartition(".")
    owner = model.get_submodule(owner_path) if owner_path else model
    if getattr(owner, attribute, None) is not stack:
        return None
    return path, owner, attribute, stack


def _scalar(value: Any) -> bool:  # noqa: ANN401
    if isinstance(value, (bool, int, float, str, type(None))):
        return True
    return isinstance(value, (tuple, list)) and all(isinstance(v, (bool, int, float, str)) for v in value)


def _freeze(value: Any) -> Hashable:  # noqa: ANN401
    return tuple(value) if isinstance(value, list) else value


def layer_signature(layer: torch.nn.Module, index: int, count: int, config: Any) -> Hashable:  # noqa: ANN401
    """What makes decoder layer ``index`` (of ``count``) differ from another: for every submodule its
    relative name, class, parameter and buffer shapes and dtypes, and scalar attributes (but the index
    ones, ``INDEX_ATTRIBUTES``); and the layer's entry of every per-layer list of the text ``config``
    (lists of ``count`` values: ``layer_types``, Llama-4's ``no_rope_layers`` ...) and whether it is in its
    layer-number lists (Qwen-MoE's ``mlp_only_layers``). Attention kind (full, sliding, chunked, no rope),
    MoE vs dense and Mamba vs attention all show here."""
    parts: list[Hashable] = []
    for name, mod in layer.named_modules():
        attrs = tuple(
            sorted(
                (k, _freeze(v))
                for k, v in vars(mod).items()
                if not k.startswith("_") and k not in INDEX_ATTRIBUTES and _scalar(v)
            )
        )
        params = tuple((n, tuple(p.shape), str(p.dtype)) for n, p in mod.named_parameters(recurse=False))
        buffers = tuple((n, tuple(b.shape), str(b.dtype)) for n, b in mod.named_buffers(recurse=False))
        parts.append((name, type(mod).__module__, type(mod).__qualname__, attrs, params, buffers))
    per_layer: list[Hashable] = []
    for key, value in sorted(vars(config).items() if config is not None else ()):
        if key.startswith("_") or not isinstance(value, (list, tuple)):
            continue
        if len(value) == count and all(_scalar(v) for v in value):
            per_layer.append((key, _freeze(value[index])))
        elif key.endswith("_layers") and all(isinstance(v, int) for v in value):
            per_layer.append((key, index in value))
    return (tuple(parts), tuple(per_layer))


#: Plans by model (an LLM is captured ten times: prefills, decode steps, the cache probe), kept while its
#: stack is the same list of the same layer objects.
_plans: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def plan_layers(model: torch.nn.Module) -> LayerPlan | None:
    """The capture plan of ``model``'s decoder stack (``LayerPlan``), or None when it has none."""
    stack = decoder_stack(model)
    if stack is None:
        return None
    members = (id(stack[1]), id(stack[3]), tuple(map(id, stack[3])))
    known = _plans.get(model)
    if known is not None and known[0] == members:
        return known[1]
    plan = _plan(*stack, model)
    _plans[model] = (members, plan)
    return plan


def _plan(
    path: str, owner: torch.nn.Module, attribute: str, layers: torch.nn.ModuleList, model: torch.nn.Module
) -> LayerPlan:
    config = _text_config(model)
    n = len(layers)
    numbering: dict[Hashable, int] = {}
    sigs = tuple(
        numbering.setdefault(layer_signature(m, i, n, config), len(numbering)) for i, m in enumerate(layers)
    )
    # a layer is regular when neither it nor the layer before it is the first of its kind: the part before
    # the first layer may touch the first layer of each kind (a mask reading its cache length), so the
    # first of a kind, and the layer after it, are always captured and never copied
    firsts = {sigs.index(sig) for sig in set(sigs)}
    regular = [i >= 1 and i not in firsts and i - 1 not in firsts for i in range(n)]
    pair = [(sigs[i - 1], sigs[i]) if i else None for i in range(n)]
    total: dict[tuple[int, int], int] = {}
    for i in range(n):
        if regular[i]:
            total[pair[i]] = total.get(pair[i], 0) + 1
    seen: dict[tuple[int, int], int] = {}
    prefix = n
    for i in range(n):
        if regular[i]:
            seen[pair[i]] = seen.get(pair[i], 0) + 1
        if (
            all(regular[i + 1 :])
            and regular[i]
            and pair[i] == pair[-1]
            and all(seen.get(p, 0) >= min(OCCURRENCES, c) for p, c in total.items())
        ):
            prefix = i + 1
            break
    last: dict[tuple[int, int], int] = {}
    for i in range(prefix):
        if regular[i]:
            last[pair[i]] = i
    sources = tuple(i if i < prefix else last[pair[i]] for i in range(n))
    return LayerPlan(path, owner, attribute, layers, sigs, prefix, sources)


def capture_replicated(
    model: torch.nn.Module,
    inputs: tuple,
    dtype: str,
    kwargs: dict[str, Any] | None = None,
    input_values: Sequence[tuple[torch.Tensor, torch.Tensor]] = (),
    bits: ElementBits | None = None,
    kv_tensors: Sequence[torch.Tensor] = (),
) -> Any:  # noqa: ANN401 (capture.trace.Trace)
    """``capture.trace.capture`` of ``model`` (same arguments and result) with its identical decoder
    layers captured once (module docstring); the full capture wherever that is not safe. The returned
    ``Trace.layer_sources`` says which captured layer each layer copies (None: a full capture)."""
    from metrics_core.capture.trace import capture

    plan = plan_layers(model) if enabled() else None
    if plan is None or not plan.replicated:
        return capture(model, inputs, dtype, kwargs, input_values, bits, kv_tensors)
    kept = plan.layers[: plan.prefix]
    short = torch.nn.ModuleList(list(kept))
    plan.owner._modules[plan.attribute] = short
    try:
        trace = capture(model, inputs, dtype, kwargs, input_values, bits, kv_tensors, spans_of=list(kept))
    except Exception:  # noqa: BLE001 - a model that needs all its layers: the full capture says why
        trace = None
    finally:
        plan.owner._modules[plan.attribute] = plan.layers
    expanded = expand(trace, plan) if trace is not None else None
    if expanded is None:
        return capture(model, inputs, dtype, kwargs, input_values, bits, kv_tensors)
    return expanded


def expand(trace: Any, plan: LayerPlan) -> Any:  # noqa: ANN401, C901 (Trace -> Trace | None)
    from metrics_core.capture.trace import head_op

    """The full model's ``Trace`` from ``trace``, the capture of the first ``plan.prefix`` layers with
    ``spans`` per layer; None when a check of the module docstring fails."""
    k = plan.prefix
    spans = trace.spans
    if len(spans) != k or any(len(s) != 1 for s in spans):
        return None
    bounds = [s[0] for s in spans]
    if any(bounds[j][1] != bounds[j + 1][0] for j in range(k - 1)):
        return None
    first, stop = bounds[0][0], bounds[-1][1]
    n_records = len(trace.records)
    region = [-1] * n_records  # -1 before the layers, j in layer j, k after them
    for j, (a, b) in enumerate(bounds):
        region[a:b] = [j] * (b - a)
    region[stop:] = [k] * (n_records - stop)
    origin: dict[int, int] = {key: -1 for key in trace.input_keys}
    own: list[list[int]] = [[] for _ in range(k + 1)]
    for i, (reads, allocs) in enumerate(trace.events):
        for key in (*reads, *allocs):
            if key not in origin:
                origin[key] = region[i]
                if region[i] >= 0:
                    own[region[i]].append(key)
    ordinal = [{key: m for m, key in enumerate(keys)} for keys in own]

    def form(j: int) -> tuple | None:
        """Layer j's events with its keys canonical; None if it reads an older layer's storage."""
        out = []
        for reads, allocs in trace.events[bounds[j][0] : bounds[j][1]]:
            row = []
            for group in (reads, allocs):
                items = []
                for key in group:
                    o = origin[key]
                    if o == -1:
                        items.append(("shared", key))
                    elif o == j:
                        items.append(("own", ordinal[j][key], trace.sizes[key]))
                    elif o == j - 1:
                        items.append(("prev", ordinal[j - 1][key]))
                    else:
                        return None
                row.append(tuple(items))
            out.append(tuple(row))
        return tuple(out)

    forms = [form(j) for j in range(k)]
    if any(f is None for f in forms):
        return None
    after = [key for reads, allocs in trace.events[stop:] for key in (*reads, *allocs)]
    for key in (*after, *trace.output_keys):
        o = origin.get(key, -1)
        if 0 <= o < k - 1:  # the ops after the layers (or an output) read a layer other than the last
            return None
    names = plan.path + "."

    def records_of(j: int) -> list[OpRecord]:
        return trace.records[bounds[j][0] : bounds[j][1]]

    # the last two captured layers of each pair are the same layer
    by_pair: dict[tuple[int, int], list[int]] = {}
    for j in range(1, k):
        by_pair.setdefault((plan.signatures[j - 1], plan.signatures[j]), []).append(j)
    for js in by_pair.values():
        if len(js) >= 2:
            a, b = js[-2], js[-1]
            if forms[a] != forms[b] or not _same_records(records_of(a), records_of(b), names, a, b):
                return None
    # a copy of layer j after a copy of layer j' reads j''s storages where j read those of the layer before
    # it: the two must be the same layer (same records but their names, same storages allocated)
    sources = plan.sources
    n = len(sources)
    alike = {(a, b) for a, b in ((sources[i - 1], sources[i] - 1) for i in range(k, n)) if a != b}
    if sources[n - 1] != k - 1:
        alike.add((sources[n - 1], k - 1))
    for a, b in alike:
        sizes_a = [trace.sizes[key] for key in own[a]]
        if (
            plan.signatures[a] != plan.signatures[b]
            or sizes_a != [trace.sizes[key] for key in own[b]]
            or not _same_records(records_of(a), records_of(b), names, a, b)
        ):
            return None

    next_key = max(trace.sizes, default=-1) + 1
    sizes: dict[int, int] = {}
    for key in trace.input_keys:
        sizes[key] = trace.sizes[key]
    records: list[OpRecord] = list(trace.records[:first])
    events: list = list(trace.events[:first])
    for reads, allocs in events:
        for key in (*reads, *allocs):
            sizes[key] = trace.sizes[key]
    previous: list[int] = []  # the keys the layer before owns, by ordinal
    for i in range(n):
        j = sources[i]
        mine: list[int] = []
        if i < k:
            mine = list(own[j])
            mapping = {key: key for key in own[j]}
        else:
            mapping = {}
            for key in own[j]:
                mapping[key] = next_key
                mine.append(next_key)
                next_key += 1
        if j > 0:
            mapping.update({key: previous[m] for key, m in ordinal[j - 1].items()})
        for key in own[j]:
            sizes[mapping[key]] = trace.sizes[key]
        rename = _renamer(names, j, i)
        for r, (reads, allocs) in zip(records_of(j), trace.events[bounds[j][0] : bounds[j][1]], strict=True):
            records.append(_copy(r, len(records), rename(r.module)))
            events.append((tuple(mapping.get(x, x) for x in reads), tuple(mapping.get(x, x) for x in allocs)))
        previous = mine
    tail_map = {key: previous[m] for key, m in ordinal[k - 1].items()}
    for key in own[k]:
        sizes[key] = trace.sizes[key]
    for r, (reads, allocs) in zip(trace.records[stop:], trace.events[stop:], strict=True):
        records.append(_copy(r, len(records), r.module))
        events.append((tuple(tail_map.get(x, x) for x in reads), tuple(tail_map.get(x, x) for x in allocs)))
    output_keys = tuple(tail_map.get(x, x) for x in trace.output_keys)
    writer = {key: i for i, (_reads, allocs) in enumerate(events) for key in allocs}
    head = head_op(records, events, writer, writer.get(output_keys[0])) if output_keys else None
    return dataclasses.replace(
        trace,
        records=records,
        head_index=head,
        events=events,
        sizes=sizes,
        output_keys=output_keys,
        spans=[],
        layer_sources=list(sources),
    )


def _renamer(names: str, src: int, dst: int) -> Any:  # noqa: ANN401 (str -> str)
    """Module path of layer ``src`` -> the same path in layer ``dst`` (``model.layers.3.mlp`` ->
    ``model.layers.41.mlp``); other paths unchanged."""
    old, new = f"{names}{src}", f"{names}{dst}"

    def rename(module: str) -> str:
        if module == old or module.startswith(old + "."):
            return new + module[len(old) :]
        return module

    return rename


def _same_records(a: list[OpRecord], b: list[OpRecord], names: str, ia: int, ib: int) -> bool:
    """Whether layer ``ia``'s records equal layer ``ib``'s but for their index and layer number."""
    if len(a) != len(b):
        return False
    rename = _renamer(names, ia, ib)
    return all(
        {**vars(x), "index": 0, "module": rename(x.module)} == {**vars(y), "index": 0}
        for x, y in zip(a, b, strict=True)
    )


def _copy(r: OpRecord, index: int, module: str) -> OpRecord:
    """``dataclasses.replace(r, index=index, module=module)`` without its per-field checks (thousands of
    records per capture): the same fields, the same (shared) shape lists."""
    new = object.__new__(OpRecord)
    new.__dict__.update(vars(r), index=index, module=module)
    return new
