"""``hf:ID``: a Hugging Face transformers architecture, built from its config on the meta device (no
weights, no network).

``ID`` resolves, in order, to the first ``config.json`` found:

1. a path: a ``config.json`` file, or a model directory holding one;
2. the local Hugging Face cache: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
   ``~/.cache/huggingface/hub``, at ``models--ORG--NAME/snapshots/*/config.json`` (newest snapshot);
3. the bundled configs of well-known models (``data/hf_configs.json``: architecture facts only, each with
   the config.json it came from), by id or alias (``gpt2`` = ``openai-community/gpt2``).

Otherwise ``UnknownModelError`` says where it looked, with close bundled ids.

The model class (the "head"), from the config alone: encoder-decoders with audio features (Whisper)
-> ``AutoModelForSpeechSeq2Seq``; other encoder-decoders (T5, BART) -> ``AutoModelForSeq2SeqLM``; vision
configs (``image_size`` and ``num_channels``, no ``vocab_size``) -> ``AutoModelForImageClassification``;
vision-language models (a ``vision_config`` and a ``text_config`` — or the text fields at the top level,
as Qwen2-VL's published configs have them — and a ``...ForConditionalGeneration`` architecture: LLaVA,
Gemma-3, Llama-4, Qwen2-VL, Qwen2.5-VL) -> ``AutoModelForImageTextToText`` (``compare`` feeds them text
tokens only; ``llm`` adds an image); decoders whose ``architectures`` name a causal-LM head ->
``AutoModelForCausalLM``; any other (encoders
such as BERT) -> the base model ``AutoModel``. ``--hf-class`` overrides it with any transformers class.
Nothing here imports transformers; the build (``hf_build``) does, in a worker process.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from metrics_core.common.errors import UnknownModelError, UsageError
from metrics_core.sources.spec import DEFAULT_SEQ_LEN, ModelSpec

PREFIX = "hf"
BUNDLED_PATH = Path(__file__).parent / "data" / "hf_configs.json"
MAX_SUGGESTIONS = 3

#: Architecture-name endings of causal language-model heads.
CAUSAL_HEADS: tuple[str, ...] = ("ForCausalLM", "LMHeadModel")

#: Head -> (transformers Auto class, input kind, task label).
HEADS: dict[str, tuple[str, str, str]] = {
    "causal-lm": ("AutoModelForCausalLM", "tokens", "causal-lm"),
    "seq2seq-lm": ("AutoModelForSeq2SeqLM", "tokens_seq2seq", "seq2seq-lm"),
    "speech-seq2seq": ("AutoModelForSpeechSeq2Seq", "speech_seq2seq", "speech-seq2seq"),
    "image-text-to-text": ("AutoModelForImageTextToText", "tokens", "image-text-to-text"),
    "image-classification": ("AutoModelForImageClassification", "pixels", "classification"),
    "encoder": ("AutoModel", "tokens", "encoder"),
}


@functools.lru_cache(maxsize=1)
def bundled() -> dict[str, dict[str, Any]]:
    """The bundled configs: ``{id: {"aliases", "source", "config"}}``."""
    return json.loads(BUNDLED_PATH.read_text(encoding="utf-8"))["models"]


def hub_cache_dirs() -> list[Path]:
    """Where a local Hugging Face hub cache may be, in the order ``huggingface_hub`` uses."""
    out = []
    if os.environ.get("HF_HUB_CACHE"):
        out.append(Path(os.environ["HF_HUB_CACHE"]).expanduser())
    if os.environ.get("HF_HOME"):
        out.append(Path(os.environ["HF_HOME"]).expanduser() / "hub")
    out.append(Path("~/.cache/huggingface/hub").expanduser())
    return list(dict.fromkeys(out))


def find_config(model_id: str) -> tuple[dict[str, Any], str]:
    """``(config dict, where it came from)`` for ``model_id`` (see module docstring).

    ``UsageError`` for a config file that cannot be read, is not a JSON object with ``model_type``, or
    fails :func:`check_config`; ``UnknownModelError`` when none is found.
    """
    config, origin = _locate_config(model_id)
    check_config(config, origin)
    return config, origin


def _locate_config(model_id: str) -> tuple[dict[str, Any], str]:
    path = Path(model_id).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return _read(path / "config.json"), str(path / "config.json")
    if path.is_file():
        return _read(path), str(path)
    if model_id.count("/") == 1 and not model_id.startswith(("/", ".", "~")):
        folder = "models--" + model_id.replace("/", "--")
        for root in hub_cache_dirs():
            snapshots = sorted(
                (root / folder / "snapshots").glob("*/config.json"),
                key=lambda p: p.stat().st_mtime,
                reverse=True,
            )
            if snapshots:
                return _read(snapshots[0]), str(snapshots[0])
    entry = _bundled_entry(model_id)
    if entry is not None:
        return dict(entry[1]["config"]), f"bundled ({entry[1]['source']})"
    raise UnknownModelError(_unknown(model_id))


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"hf: cannot read {path}: {type(exc).__name__}: {exc}") from None
    except RecursionError:
        raise UsageError(f"hf: cannot read {path}: JSON nested too deeply") from None
    if not isinstance(data, dict) or not isinstance(data.get("model_type"), str):
        raise UsageError(f'hf: {path} is not a transformers config.json (no "model_type")')
    if data.get("auto_map"):
        raise UsageError(
            f"hf: {path} needs the model's own code (auto_map / trust_remote_code), which modeltui does not "
            "download or run; analyse it as a package.module:factory model instead"
        )
    return data


#: How deep a config's JSON may nest (real configs: 3 levels, e.g. ``text_config.rope_scaling``); deeper is
#: a hostile or broken file, refused before anything recurses over it.
MAX_CONFIG_DEPTH = 16

#: Structural sizes that must be positive integers where a config sets them (None: the library's default):
#: layer counts, attention heads, widths, vocabulary. A 0 is a division by zero in every head split and a
#: negative layer count an empty model, so both are refused in one line before any verb analyses them.
POSITIVE_FIELDS: tuple[str, ...] = (
    "num_hidden_layers", "n_layer", "num_layers", "encoder_layers", "decoder_layers", "num_decoder_layers",
    "num_attention_heads", "n_head", "num_heads", "encoder_attention_heads", "decoder_attention_heads",
    "num_key_value_heads", "hidden_size", "n_embd", "d_model", "intermediate_size", "n_inner", "d_ff", "d_kv",
    "head_dim", "vocab_size",
)  # fmt: skip


#: Optional lengths that must be positive integers where a config sets them (None: not used): attention
#: windows and chunks. A negative window is an empty range in every mask.
OPTIONAL_POSITIVE_FIELDS: tuple[str, ...] = ("sliding_window", "attention_chunk_size")

#: Config fields giving a mixture of experts' expert count, in the spellings transformers' configs use.
EXPERT_COUNT_FIELDS: tuple[str, ...] = ("num_local_experts", "num_experts", "n_routed_experts")


def check_config(config: dict[str, Any], origin: str) -> None:
    """Refuse a config no verb can analyse, in one line naming ``origin`` and the field, with what would
    fix it: nesting deeper than :data:`MAX_CONFIG_DEPTH`; a :data:`POSITIVE_FIELDS` size (top level, or in
    a ``*_config`` sub-config such as ``text_config``) that is not a positive integer, or an
    :data:`OPTIONAL_POSITIVE_FIELDS` length that is set and not one; and in the same section
    (``_check_heads``): a ``hidden_size`` that ``num_attention_heads`` does not divide with no
    ``head_dim`` given, a ``num_key_value_heads`` that does not divide ``num_attention_heads``, and a
    ``num_experts_per_tok`` above the experts. Raises ``UsageError``."""
    depth, stack = 0, [(config, 1)]
    while stack:  # iterative: a deep document must not overflow the stack here either
        node, level = stack.pop()
        depth = max(depth, level)
        if depth > MAX_CONFIG_DEPTH:
            raise UsageError(f"hf: {origin}: the config nests deeper than {MAX_CONFIG_DEPTH} levels")
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, level + 1) for c in children if isinstance(c, (dict, list)))
    sections = [("", config)] + [(f"{k}.", v) for k, v in config.items() if k.endswith("_config")]
    for prefix, section in sections:
        if not isinstance(section, dict):
            continue
        for name in POSITIVE_FIELDS + OPTIONAL_POSITIVE_FIELDS:
            value = section.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                field = f"field '{prefix}{name}' is {json.dumps(value)}"
                what = "a positive integer" if name in POSITIVE_FIELDS else "a positive integer or null"
                raise UsageError(f"hf: {origin}: {field}; it must be {what}")
        _check_heads(section, prefix, origin)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _check_heads(section: dict[str, Any], prefix: str, origin: str) -> None:
    """The head and expert arithmetic of one config section (``check_config``); sizes already checked
    positive."""
    hidden, heads = section.get("hidden_size"), section.get("num_attention_heads")
    kv_heads = section.get("num_key_value_heads")
    if (
        isinstance(hidden, int)
        and isinstance(heads, int)
        and section.get("head_dim") is None
        and hidden % heads
    ):
        lower, upper = hidden - hidden % heads, hidden - hidden % heads + heads
        near = f"{lower:,} or {upper:,}" if lower else f"{upper:,}"
        raise UsageError(
            f"hf: {origin}: '{prefix}hidden_size' {hidden:,} is not a multiple of "
            f"'{prefix}num_attention_heads' {heads} and no head_dim is given: set head_dim, or a hidden_size "
            f"that {heads} divides ({near})"
        )
    if isinstance(heads, int) and isinstance(kv_heads, int) and heads % kv_heads:
        choices = ", ".join(str(d) for d in _divisors(heads)[:8])
        raise UsageError(
            f"hf: {origin}: '{prefix}num_key_value_heads' {kv_heads} does not divide "
            f"'{prefix}num_attention_heads' {heads} (each KV head serves a whole group of query heads): "
            f"choose one of {choices}"
        )
    top_k = section.get("num_experts_per_tok")
    experts = next((section[f] for f in EXPERT_COUNT_FIELDS if isinstance(section.get(f), int)), None)
    if (
        isinstance(top_k, int)
        and not isinstance(top_k, bool)
        and isinstance(experts, int)
        and experts > 1  # 0 or 1 expert: a dense MLP (Jamba's num_experts 1), the top-k unused
        and not 0 < top_k <= experts
    ):
        raise UsageError(
            f"hf: {origin}: '{prefix}num_experts_per_tok' {top_k} is not between 1 and the {experts} experts "
            "a token is routed among: lower it, or give more experts"
        )


def _bundled_entry(model_id: str) -> tuple[str, dict[str, Any]] | None:
    wanted = model_id.lower()
    for mid, entry in bundled().items():
        if wanted == mid.lower() or wanted in (a.lower() for a in entry.get("aliases", ())):
            return mid, entry
    return None


def _unknown(model_id: str) -> str:
    import difflib

    names = list(bundled()) + [a for e in bundled().values() for a in e.get("aliases", ())]
    lowered = {n.lower(): n for n in names}
    close = difflib.get_close_matches(model_id.lower(), list(lowered), n=MAX_SUGGESTIONS, cutoff=0.5)
    caches = ", ".join(str(p) for p in hub_cache_dirs())
    hint = f"; did you mean {', '.join('hf:' + lowered[c] for c in close)}?" if close else ""
    return (
        f"unknown Hugging Face model {model_id!r}: not a path to a config.json or model directory, not in "
        f"the local hub cache ({caches}), not bundled{hint}"
    )


def head_of(config: dict[str, Any]) -> str:
    """The default head (a key of ``HEADS``) for a config (see module docstring)."""
    archs = config.get("architectures") or []
    if config.get("is_encoder_decoder"):
        if "num_mel_bins" in config or config.get("model_type") in ("whisper", "speech_to_text"):
            return "speech-seq2seq"
        return "seq2seq-lm"
    if "image_size" in config and "num_channels" in config and "vocab_size" not in config:
        return "image-classification"
    if (
        isinstance(config.get("vision_config"), dict)
        and (isinstance(config.get("text_config"), dict) or isinstance(config.get("vocab_size"), int))
        and any(str(a).endswith("ForConditionalGeneration") for a in archs)
    ):
        return "image-text-to-text"
    if any(str(a).endswith(CAUSAL_HEADS) for a in archs):
        return "causal-lm"
    return "encoder"


def native_input_shape(config: dict[str, Any], head: str) -> tuple[int, ...]:
    """Per-sample shape of the main input: ``(L,)`` tokens, ``(mel bins, frames)`` for speech (frames =
    2 x ``max_source_positions``, the encoder's stride-2 convolution), ``(C, H, W)`` for images."""
    kind = HEADS[head][1]
    if kind == "speech_seq2seq":
        return (int(config.get("num_mel_bins", 80)), 2 * int(config.get("max_source_positions", 1500)))
    if kind == "pixels":
        size = config.get("image_size", 224)
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        return (int(config.get("num_channels", 3)), int(h), int(w))
    return (DEFAULT_SEQ_LEN,)


#: Config fields bounding the token sequence, by head: learned position tables and trained contexts. T5's
#: relative positions have no bound (its ``n_positions`` is only a generation default).
MAX_TOKEN_FIELDS: tuple[str, ...] = ("max_position_embeddings", "n_positions")
SPEECH_TOKEN_FIELDS: tuple[str, ...] = ("max_target_positions",)
UNBOUNDED_TYPES: frozenset[str] = frozenset({"t5", "mt5", "umt5", "longt5"})


def max_tokens(config: dict[str, Any], head: str) -> tuple[int, str] | None:
    """``(limit, field)`` of the token inputs, or None (see ``MAX_TOKEN_FIELDS``)."""
    if head == "image-classification" or config.get("model_type") in UNBOUNDED_TYPES:
        return None
    if head == "image-text-to-text" and isinstance(config.get("text_config"), dict):
        config = config["text_config"]  # the language model's positions
    fields = SPEECH_TOKEN_FIELDS if head == "speech-seq2seq" else MAX_TOKEN_FIELDS
    for field_name in fields:
        value = config.get(field_name)
        if isinstance(value, int) and value > 0:
            return value, field_name
    return None


def get_spec(model_id: str) -> ModelSpec:
    """The spec of ``hf:model_id`` (see module docstring). ``UsageError`` for a config whose sizes are not
    positive (``check_config``, applied by ``find_config``)."""
    config, origin = find_config(model_id)
    head = head_of(config)
    auto_class, kind, task = HEADS[head]
    return ModelSpec(
        name=f"{PREFIX}:{model_id}",
        family=f"hf/{config['model_type']}",
        task=task,
        input_shape=native_input_shape(config, head),
        input_kind=kind,
        builder="metrics_core.sources.hf_build:build",
        builder_kwargs={"config": config, "model_class": auto_class},
        origin=origin,
        source=PREFIX,
        max_tokens=max_tokens(config, head),
    )


def short_names() -> dict[str, str]:
    """Lower-case names a user may type for each bundled model without the ``hf:`` prefix -> its spec
    name: the id, the id's part after the organisation and every alias (``llama-3.1-8b`` ->
    ``hf:meta-llama/Llama-3.1-8B``). The first model to claim a name keeps it (ids sorted)."""
    out: dict[str, str] = {}
    for mid in list_ids():
        for n in (mid, mid.rsplit("/", 1)[-1], *bundled()[mid].get("aliases", ())):
            for form in (n, n.rsplit("/", 1)[-1]):
                out.setdefault(form.lower(), f"{PREFIX}:{mid}")
    return out


def list_ids() -> list[str]:
    """The bundled ids (what ``hf:`` knows without a path or a local cache)."""
    return sorted(bundled(), key=str.lower)
