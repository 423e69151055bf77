"""The image of a vision-language model's prompt: how many language-model tokens one image becomes, and
the inputs that feed it through the vision tower (one image per sequence).

Two families:

- **Fixed resolution** (LLaVA class: ``vision_config.image_size``): ``mm_tokens_per_image`` where the
  config gives it (Gemma-3's pooled 256), else the tower's patches ``(image_size / patch_size)^2``, plus
  the CLS token under LLaVA's ``full`` feature strategy (``default`` drops it: 576 for a 336-pixel CLIP
  ViT-L/14). Fed as ``pixel_values (B, 3, size, size)``.
- **Dynamic resolution** (Qwen2-VL, Qwen2.5-VL: ``vision_config.spatial_merge_size`` and
  ``temporal_patch_size``): the image processor resizes an H x W image to multiples of ``patch_size x
  spatial_merge_size`` (28 pixels) within ``[min_pixels, max_pixels]`` (transformers'
  ``models/qwen2_vl/image_processing_qwen2_vl.smart_resize``: defaults 56 x 56 and 28 x 28 x 1,280
  pixels), cuts it into ``(H / patch) x (W / patch)`` patches of ``channels x temporal_patch_size x patch
  x patch`` values (a still image is repeated ``temporal_patch_size`` times: one temporal patch), and the
  vision tower's merger joins each ``spatial_merge_size x spatial_merge_size`` block into one LM token:
  ``(H / 28) x (W / 28)`` tokens (Qwen2-VL paper, arXiv:2409.12191, sec. 2.1: "a 224 x 224 image ... is
  compressed to 66 tokens", 64 image tokens plus the two ``<|vision_start|>`` / ``<|vision_end|>``
  tokens). The images have no size of their own: modeltui states one, ``vision_config.image_size`` where a
  config sets it (a user's config), else ``DYNAMIC_IMAGE_SIZE``, and every output names it. Fed as
  ``pixel_values (B x patches, values per patch)``, ``image_grid_thw (B, 3)`` and ``mm_token_type_ids``;
  the language model's M-RoPE positions (temporal, height, width per token) are computed on the host
  from the token layout, as serving engines do (vLLM's ``MRotaryEmbedding``), and fed as ``position_ids``.

The prompt's layout: ``[vision_start] image tokens [vision_end]`` (the framing tokens where the config
has them), then text. Pure arithmetic on the config, except ``image_inputs`` (torch).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

#: The image resolution stated for a dynamic-resolution model whose config sets none (pixels per side):
#: 448 x 448 -> 16 x 16 = 256 LM tokens at Qwen2-VL's 28 pixels per token.
DYNAMIC_IMAGE_SIZE = 448

#: The Qwen2-VL image processor's pixel bounds (``size = {"shortest_edge": 56 * 56, "longest_edge":
#: 28 * 28 * 1280}`` in transformers' ``Qwen2VLImageProcessor``).
MIN_PIXELS = 56 * 56
MAX_PIXELS = 28 * 28 * 1280


#: Module names of a vision-language model's vision tower and projector (LLaVA / Gemma-3
#: ``vision_tower``, Llama-4 ``vision_model``, Qwen2-VL ``visual``, ``multi_modal_projector``).
VISION_MODULES: frozenset[str] = frozenset(
    {"vision_tower", "vision_model", "visual", "multi_modal_projector"}
)


def in_vision(module: str) -> bool:
    """Whether a module path (``model.vision_tower.encoder...``) lies in the vision tower or projector."""
    return not VISION_MODULES.isdisjoint(module.split("."))


@dataclass(frozen=True)
class ImagePrompt:
    """One image of a prompt. ``tokens``: its LM tokens; ``height`` x ``width``: the pixels the tower
    sees (after the processor's resize); ``token_id``: the placeholder token; ``framing``: the
    ``(vision_start, vision_end)`` token ids around it (empty: none); ``grid``: ``(t, h, w)`` patches of a
    dynamic-resolution model (None: fixed resolution); ``patch_values``: values per patch row
    (``channels x temporal_patch_size x patch^2``; dynamic only)."""

    tokens: int
    height: int
    width: int
    token_id: int
    framing: tuple[int, ...] = ()
    grid: tuple[int, int, int] | None = None
    patch_values: int = 0

    @property
    def prompt_tokens(self) -> int:
        """Prompt tokens the image takes: its tokens and the framing tokens."""
        return self.tokens + len(self.framing)

    @property
    def dynamic(self) -> bool:
        """Whether the model takes images of any size (Qwen2-VL class)."""
        return self.grid is not None


def smart_resize(
    height: int, width: int, factor: int, min_pixels: int = MIN_PIXELS, max_pixels: int = MAX_PIXELS
) -> tuple[int, int]:
    """``(height, width)`` an image is resized to by Qwen2-VL's processor: each side rounded to a multiple
    of ``factor`` (``patch_size x spatial_merge_size``), the area scaled into ``[min_pixels,
    max_pixels]`` keeping the aspect ratio (transformers' ``qwen2_vl.image_processing_qwen2_vl.
    smart_resize``). ``ValueError`` for a non-positive size or an aspect ratio above 200."""
    if height <= 0 or width <= 0 or factor <= 0:
        raise ValueError(f"image size {height}x{width} (factor {factor}) must be positive")
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"image aspect ratio above 200: {height}x{width}")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def _vision_and_text(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``(vision_config, text fields)``: a nested ``text_config`` (LLaVA) or the top level (Qwen2-VL's
    published configs are flat)."""
    vision = config.get("vision_config")
    if not isinstance(vision, dict):
        return None
    text = config.get("text_config")
    if isinstance(text, dict):
        return vision, text
    if isinstance(config.get("vocab_size"), int):
        return vision, config
    return None


def is_dynamic(vision: dict[str, Any]) -> bool:
    """Whether a vision config describes a dynamic-resolution tower (Qwen2-VL class): a spatial merge and
    a temporal patch."""
    return isinstance(vision.get("spatial_merge_size"), int) and isinstance(
        vision.get("temporal_patch_size"), int
    )


def _side(value: Any) -> tuple[int, int] | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    return None


def image_prompt(config: dict[str, Any]) -> ImagePrompt | None:
    """The image one prompt holds for a vision-language ``config`` (module docstring), or None: not a
    vision-language config, no image token, or no fixed size for a fixed-resolution tower. ``ValueError``
    for a dynamic-resolution model's stated ``image_size`` that is not a size or that the processor
    refuses (``smart_resize``)."""
    parts = _vision_and_text(config)
    if parts is None:
        return None
    vision, _text = parts
    token = config.get("image_token_id", config.get("image_token_index"))
    if not isinstance(token, int):
        return None
    if is_dynamic(vision):
        patch, merge = vision.get("patch_size", 14), vision["spatial_merge_size"]
        temporal = vision["temporal_patch_size"]
        channels = vision.get("in_channels", vision.get("in_chans", 3))
        side = _side(vision.get("image_size")) or (DYNAMIC_IMAGE_SIZE, DYNAMIC_IMAGE_SIZE)
        if vision.get("image_size") is not None and _side(vision["image_size"]) is None:
            raise ValueError(
                f"{json.dumps(vision['image_size'])} is not a size: give a positive number of pixels or "
                "[height, width]"
            )
        if not all(isinstance(v, int) and v > 0 for v in (patch, merge, temporal, channels)):
            return None
        height, width = smart_resize(*side, factor=patch * merge)
        grid = (1, height // patch, width // patch)
        ends = (config.get("vision_start_token_id"), config.get("vision_end_token_id"))
        framing = tuple(t for t in ends if isinstance(t, int))
        return ImagePrompt(
            tokens=grid[1] * grid[2] // merge**2,
            height=height,
            width=width,
            token_id=token,
            framing=framing,
            grid=grid,
            patch_values=channels * temporal * patch * patch,
        )
    if isinstance(config.get("mm_tokens_per_image"), int):
        size = _side(vision.get("image_size"))
        if size is None:
            return None
        return ImagePrompt(config["mm_tokens_per_image"], *size, token_id=token)
    size, patch = _side(vision.get("image_size")), vision.get("patch_size")
    if size is None or not isinstance(patch, int) or patch <= 0:
        return None
    full = config.get("vision_feature_select_strategy") == "full"
    return ImagePrompt((size[0] // patch) * (size[1] // patch) + (1 if full else 0), *size, token_id=token)


def image_inputs(image: ImagePrompt, batch: int, prompt: int, dtype: Any) -> tuple[dict[str, Any], list]:
    """The vision inputs of a prefill of ``batch`` prompts of ``prompt`` tokens, each starting with
    ``image``: ``(kwargs, known values)`` for ``capture`` — ``input_ids`` (the framing and placeholder
    tokens, then text), ``pixel_values`` (meta, ``dtype``) and for a dynamic-resolution model
    ``image_grid_thw`` and ``mm_token_type_ids`` (1 on the image's tokens). The M-RoPE ``position_ids``
    need the model's ``get_rope_index`` (``mrope_positions``)."""
    import torch

    ids = torch.empty((batch, prompt), dtype=torch.int64, device="meta")
    id_values = token_layout(image, batch, prompt)
    kwargs: dict[str, Any] = {"input_ids": ids}
    values: list = [(ids, id_values)]
    if image.grid is None:
        shape = (batch, 3, image.height, image.width)
        kwargs["pixel_values"] = torch.empty(shape, dtype=dtype, device="meta")
        return kwargs, values
    t, h, w = image.grid
    kwargs["pixel_values"] = torch.empty((batch * t * h * w, image.patch_values), dtype=dtype, device="meta")
    grid = torch.empty((batch, 3), dtype=torch.int64, device="meta")
    types = torch.empty((batch, prompt), dtype=torch.int64, device="meta")
    kwargs["image_grid_thw"], kwargs["mm_token_type_ids"] = grid, types
    values += [(grid, torch.tensor([image.grid] * batch)), (types, (id_values == image.token_id).long())]
    return kwargs, values


def token_layout(image: ImagePrompt, batch: int, prompt: int) -> Any:
    """Token ids ``(batch, prompt)`` (CPU): ``[vision_start]``, the image's placeholder tokens,
    ``[vision_end]``, then text (token 1)."""
    import torch

    out = torch.ones((batch, prompt), dtype=torch.int64)
    at = 0
    if image.framing:
        out[:, 0] = image.framing[0]
        at = 1
    out[:, at : at + image.tokens] = image.token_id
    if len(image.framing) > 1:
        out[:, at + image.tokens] = image.framing[1]
    return out


def mrope_positions(model: Any, kwargs: dict[str, Any], values: list) -> Any | None:
    """The M-RoPE position ids ``(3, batch, prompt)`` (CPU) of ``image_inputs``' prompt, from the model's
    own ``get_rope_index`` run on the host values (it reads token ids and the grid, never weights), or
    None for a model without one."""
    import torch

    inner = getattr(model, "model", model)
    rope_index = getattr(inner, "get_rope_index", None)
    if rope_index is None or "image_grid_thw" not in kwargs:
        return None
    known = {id(t): v for t, v in values}
    with torch.no_grad():
        positions, _deltas = rope_index(
            known[id(kwargs["input_ids"])],
            mm_token_type_ids=known[id(kwargs["mm_token_type_ids"])],
            image_grid_thw=known[id(kwargs["image_grid_thw"])],
        )
    return positions
