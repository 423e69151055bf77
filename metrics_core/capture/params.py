"""Parameter counts of a built model."""

from __future__ import annotations


def count_params(model) -> tuple[int, int]:  # noqa: ANN001 (nn.Module)
    """(all, trainable) parameter element counts; shared parameters counted once."""
    seen: set[int] = set()
    total = trainable = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return total, trainable


def embedding_tables(model) -> tuple[int, int]:  # noqa: ANN001 (nn.Module)
    """Elements of the model's embedding tables (the weights of its ``nn.Embedding`` modules: token,
    learned-position and per-layer embeddings), each shared parameter once, as ``(own, tied)``: ``tied``
    the table that is also the output head's weight (``get_output_embeddings()``: tied word embeddings,
    GPT-2, Llama-3.2-1B, Gemma), ``own`` every other table. Serving stacks keep these tables in 16 bits
    under an int / fp8 / fp4 weight format (``perf.stacks.Stack.quantized_embedding``)."""
    import torch

    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    shared = getattr(head, "weight", None)
    seen: set[int] = set()
    own = tied = 0
    for m in model.modules():
        w = getattr(m, "weight", None) if isinstance(m, torch.nn.Embedding) else None
        if w is None or id(w) in seen:
            continue
        seen.add(id(w))
        if w is shared:
            tied += w.numel()
        else:
            own += w.numel()
    return own, tied


def module_table(model) -> dict[str, list]:  # noqa: ANN001 (nn.Module)
    """``{qualified name: [class name, parameters it holds itself]}`` for every module (the root is
    ``""``); a parameter shared by several modules counts for the first that holds it, so the counts sum
    to the model's parameter count. ``Report.by_module`` names and sums module paths with it."""
    seen: set[int] = set()
    out: dict[str, list] = {}
    for name, mod in model.named_modules():
        n = 0
        for p in mod.parameters(recurse=False):
            if id(p) not in seen:
                seen.add(id(p))
                n += p.numel()
        out[name] = [type(mod).__name__, n]
    return out


#: Container classes whose children are not blocks of their own kind (a ``Sequential`` of stages).
CONTAINER_TYPES: frozenset[str] = frozenset({"Sequential", "ModuleList"})


def _children(table: dict[str, list]) -> dict[str, list[str]]:
    """Each module's direct children (qualified names, in module order) from a ``module_table``."""
    kids: dict[str, list[str]] = {name: [] for name in table}
    for name in table:
        if name:
            parent = name.rpartition(".")[0]
            kids.setdefault(parent, []).append(name)
    return kids


def block_names(table: dict[str, list]) -> list[str]:
    """The repeated blocks of a model, from its ``module_table``: the children of every innermost
    *homogeneous* container (a module with two or more children, all of one class that has children of
    its own and is not itself a ``Sequential`` / ``ModuleList``; none of its descendants is such a
    container), in module order. ResNet's ``layerN.K`` bottlenecks, a ViT's ``blocks.K``, a transformer's
    ``layers.K``; none for a model without repeated composite blocks (VGG's layers are single ops). The
    units of activation checkpointing and of a pipeline split."""
    kids = _children(table)
    homogeneous = {
        name
        for name, children in kids.items()
        if len(children) >= 2
        and len({table[c][0] for c in children}) == 1
        and table[children[0]][0] not in CONTAINER_TYPES
        and kids.get(children[0])
    }
    innermost = [n for n in homogeneous if not any(o != n and _inside(o, n) for o in homogeneous)]
    return [c for name in table if name in innermost for c in kids[name]]


def unit_names(table: dict[str, list], blocks: list[str]) -> list[str]:
    """The parts a pipeline splits between, in module order: each block, and each module that neither
    contains a block nor lies inside one, taken whole (ResNet: ``conv1``, ``bn1``, ``relu``, ``maxpool``,
    ``layer1.0`` ... ``fc``)."""
    kids = _children(table)
    block_set = set(blocks)
    units: list[str] = []

    def walk(name: str) -> None:
        for child in kids.get(name, []):
            if child in block_set or not any(_inside(b, child) for b in block_set):
                units.append(child)
            else:
                walk(child)

    walk("")
    return units


def _inside(name: str, parent: str) -> bool:
    """Whether module ``name`` is ``parent`` or below it (dotted names; "" is the root)."""
    return parent == "" or name == parent or name.startswith(parent + ".")


#: Config attributes naming the experts a token is routed to (k) and the routed experts (E), as
#: transformers' mixture-of-experts configs spell them (Mixtral, Qwen-MoE, DeepSeek, OLMoE, GPT-OSS ...).
TOP_K_ATTRS: tuple[str, ...] = ("num_experts_per_tok", "moe_topk", "top_k")
EXPERT_COUNT_ATTRS: tuple[str, ...] = ("num_local_experts", "num_experts", "n_routed_experts")


def active_params(model, params: int) -> int | None:  # noqa: ANN001 (nn.Module)
    """Parameters one token uses in a mixture-of-experts model: every parameter outside the routed
    experts, plus k/E of the routed experts' parameters (top-k routing over E experts: each token runs k
    experts). The routed experts are the parameters under modules named ``experts`` (transformers'
    convention). None when the model has no ``config`` with k and E, or no such parameters (a dense model:
    every parameter is active)."""
    config = getattr(model, "config", None)
    k = next((getattr(config, a) for a in TOP_K_ATTRS if isinstance(getattr(config, a, None), int)), None)
    e = next(
        (getattr(config, a) for a in EXPERT_COUNT_ATTRS if isinstance(getattr(config, a, None), int)), None
    )
    if not k or not e:
        return None
    seen: set[int] = set()
    expert = 0
    for name, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        if "experts" in name.split("."):
            expert += p.numel()
    if not expert:
        return None
    return params - expert + expert * k // e
