"""``ModelSpec``: one model a source can build, with its native input; the inputs it is fed by default.

Every source (``catalog`` for torchvision, ``timm_source``, ``hf_source``, ``custom``) resolves a name to
a ``ModelSpec``; ``build.build_model`` builds it on the meta device and ``default_inputs`` says what its
forward pass is fed (``metrics_core.common.input_spec.InputSpec``), unless the user says otherwise.
Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from metrics_core.common.errors import UsageError
from metrics_core.common.input_spec import MODEL_FLOAT, InputSpec

#: Dimension names of one sample per input kind (the batch dimension N comes first in the tensors).
#: ``image_pair`` is two images (RAFT's ``forward(image1, image2)``); ``tensor`` (custom models) is any rank.
INPUT_DIMS: dict[str, tuple[str, ...] | None] = {
    "image": ("C", "H", "W"),
    "image_pair": ("C", "H", "W"),
    "image_list": ("C", "H", "W"),
    "video": ("C", "T", "H", "W"),
    "tensor": None,
    "tokens": ("L",),
    "tokens_seq2seq": ("L",),
    "speech_seq2seq": ("MEL", "FRAMES"),
    "pixels": ("C", "H", "W"),
}

#: Input kinds whose default inputs hold tokens (``--seq-len`` sets their length); the others ignore it.
TOKEN_KINDS: frozenset[str] = frozenset({"tokens", "tokens_seq2seq", "speech_seq2seq"})

#: Number of positional input tensors per input kind (default 1).
INPUT_COUNT: dict[str, int] = {"image_pair": 2}

#: Input shape of a custom model when the caller gives none: one 224x224 RGB image.
DEFAULT_CUSTOM_SHAPE: tuple[int, ...] = (3, 224, 224)

#: Default sequence length (tokens per sample) of token models: ``--seq-len`` changes it.
DEFAULT_SEQ_LEN = 128


@dataclass(frozen=True)
class ModelSpec:
    """One analysable (or explicitly refused) model.

    ``input_shape`` is per sample, without the batch dimension: ``(C, H, W)`` for images (also each of the
    two images of an ``image_pair``), ``(C, T, H, W)`` for video. ``builder`` is ``"module:callable"``,
    called with ``builder_kwargs``; ``shape_kwargs`` names builder arguments that follow the input size
    (e.g. ViT's ``image_size: "H"``), applied when a caller analyses another input shape.
    ``supported`` is False, with a one-line ``reason``, for models the meta-device analysis cannot run.
    ``input_kind`` selects the default inputs (``default_inputs``); token models have ``(L,)`` shapes.
    Treat instances as read-only: ``catalog()`` shares them.
    """

    name: str
    family: str
    task: str
    input_shape: tuple[int, ...]
    input_kind: str
    builder: str
    builder_kwargs: dict[str, Any] = field(default_factory=dict)
    shape_kwargs: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] | None = None
    supported: bool = True
    reason: str | None = None
    #: Where the model comes from: ``torchvision``, ``timm``, ``hf`` or ``custom``.
    source: str = "torchvision"
    #: Where its definition was read (``hf:``: the config.json path, or the bundled config's source).
    origin: str | None = None
    #: Longest token sequence the model takes (its position embeddings or trained context), with the
    #: config field that says so: ``(1024, "n_positions")``; None when it has no limit or no tokens.
    max_tokens: tuple[int, str] | None = None

    @property
    def is_custom(self) -> bool:
        """True for a user ``package.module:factory`` model."""
        return self.source == "custom" or self.task == "custom"

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict (``input_shape`` as a list)."""
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        """Inverse of ``to_dict``."""
        limit = d.get("max_tokens")
        return cls(
            **{**d, "input_shape": tuple(d["input_shape"]), "max_tokens": tuple(limit) if limit else None}
        )


def validate_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """``shape`` as a tuple of positive ints, else ``UsageError``."""
    values = tuple(shape)
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
        raise UsageError(f"input shape must be positive integers, got {list(values)}")
    return values


def resolve_input_shape(spec: ModelSpec, input_shape: Sequence[int] | None = None) -> tuple[int, ...]:
    """The per-sample input shape to analyse ``spec`` at: ``input_shape`` (validated against the model's
    input kind) or the catalog's native shape. ``UsageError`` on a bad shape."""
    if input_shape is None:
        return spec.input_shape
    shape = validate_shape(input_shape)
    dims = INPUT_DIMS.get(spec.input_kind)
    if dims is not None and len(shape) != len(dims):
        raise UsageError(
            f"{spec.name} takes an input shape of {len(dims)} numbers ({' '.join(dims)}), got {list(shape)}"
        )
    return shape


def shape_kwargs(spec: ModelSpec, input_shape: Sequence[int]) -> dict[str, Any]:
    """Builder arguments that follow the input size, resolved for ``input_shape``.

    ``spec.shape_kwargs`` maps an argument to a dimension name or a list of them, e.g. ViT
    ``{"image_size": "H"}`` -> ``{"image_size": 518}`` for ``(3, 518, 518)``.
    """
    dims = INPUT_DIMS.get(spec.input_kind) or ()
    index = {d: i for i, d in enumerate(dims)}
    out: dict[str, Any] = {}
    for arg, dim in spec.shape_kwargs.items():
        out[arg] = [input_shape[index[d]] for d in dim] if isinstance(dim, list) else input_shape[index[dim]]
    return out


def default_inputs(
    spec: ModelSpec, input_shape: Sequence[int] | None = None, seq_len: int | None = None
) -> tuple[InputSpec, ...]:
    """What ``spec``'s forward pass is fed when the user gives no ``--input``: per input kind,

    - ``image`` / ``video`` / ``tensor``: one positional ``float`` tensor of the per-sample shape
      (``image_pair``: two); ``pixels`` (Hugging Face vision): ``pixel_values``;
    - ``tokens``: ``input_ids`` int64 of ``seq_len`` tokens (default: the spec's, ``DEFAULT_SEQ_LEN``);
      ``tokens_seq2seq`` adds ``decoder_input_ids`` of the same length;
    - ``speech_seq2seq`` (Whisper): ``input_features`` float ``(mel bins, frames)`` and
      ``decoder_input_ids`` of ``seq_len`` tokens.

    No attention mask is fed: a model without padding needs none, and its causal mask comes from SDPA's
    ``is_causal``. ``UsageError`` for a shape of the wrong rank or a non-positive ``seq_len``.
    """
    shape = resolve_input_shape(spec, input_shape)
    if seq_len is not None and (isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1):
        raise UsageError(f"sequence length must be a positive integer, got {seq_len!r}")
    kind = spec.input_kind
    if seq_len is not None and spec.max_tokens is not None and seq_len > spec.max_tokens[0]:
        limit, source = spec.max_tokens
        raise UsageError(
            f"{spec.name} takes at most {limit:,} tokens ({source}); --seq-len {seq_len:,} is longer"
        )
    if kind in ("tokens", "tokens_seq2seq"):
        length = (seq_len or shape[0],)
        ids = (InputSpec("input_ids", "int64", length),)
        if kind == "tokens_seq2seq":
            ids += (InputSpec("decoder_input_ids", "int64", length),)
        return ids
    if kind == "speech_seq2seq":
        decoder = InputSpec("decoder_input_ids", "int64", (seq_len or DEFAULT_SEQ_LEN,))
        return (InputSpec("input_features", MODEL_FLOAT, shape), decoder)
    if kind == "pixels":
        return (InputSpec("pixel_values", MODEL_FLOAT, shape),)
    return tuple(InputSpec(None, MODEL_FLOAT, shape) for _ in range(INPUT_COUNT.get(kind, 1)))
