"""Quantised storage formats of LLM weights and KV cache: bits per element including their scales, and the
dequantisation work a kernel does per weight it reads.

The formats and every figure live in ``data/quant_formats.toml`` (each with its source there); this module
derives the sizes from the layout fields and never takes a bits-per-weight figure on trust, except for
llama.cpp's mixed file types. No torch here.

**Bits per weight** (``WeightFormat.bits_per_weight``, bits):

    bits_per_weight = element_bits
                    + (scale_bits + zero_bits) / group_size          (group_size > 0)
                    + super_block_bits / super_block_size            (super_block_size > 0)

``group_size`` = 0 means one scale per output channel or per tensor: that overhead (16-32 bits per row of
K >= 2048 weights, <= 0.016 bit) is left out. Worked examples, all from the stored struct layouts:

- int4, group 128, fp16 scale + 4-bit zero point (AutoAWQ ``WQLinear_GEMM``: ``qweight`` int32
  [in, out/8], ``qzeros`` int32 [in/128, out/8], ``scales`` fp16 [in/128, out]; AutoGPTQ stores the same
  ``qzeros`` / ``scales``, plus an int32 ``g_idx`` per input channel = 32/out_features bit, left out):
  4 + (16 + 4)/128 = 4.15625. Marlin's symmetric repack drops the zeros: 4 + 16/128 = 4.125.
  Group 32: 4 + 20/32 = 4.625.
- GGUF (``ggml/src/ggml-common.h`` of ggml-org/llama.cpp): Q4_0 = fp16 d + 16 bytes of nibbles = 18 bytes
  per 32 = 4 + 16/32 = 4.5; Q8_0 = 34 bytes per 32 = 8.5; Q4_K = per 256-weight super-block fp16 d and dmin
  (32 bits) + 8 sub-blocks of 32 with a 6-bit scale and a 6-bit min (12 bytes) + 128 bytes of nibbles =
  144 bytes = 4 + 12/32 + 32/256 = 4.5; Q5_K = 176 bytes = 5.5; Q6_K = 16 sub-blocks of 16 with int8
  scales + fp16 d = 210 bytes = 6 + 8/16 + 16/256 = 6.5625.
- Q4_K_M, Q4_K_S, Q5_K_M, Q5_K_S are llama-quantize *file types* mixing block types per tensor (Q4_K_M:
  Q6_K for attn_v and ffn_down in about half the layers and for the output layer): their bits per weight are
  llama.cpp's published whole-file figures (``tools/quantize/README.md``, Llama-3.1-8B: Q4_K_M 4.8944),
  flagged ``mix``.
- NVFP4: E2M1 elements + an E4M3 scale per 16 = 4 + 8/16 = 4.5 (+ one fp32 per tensor, left out).
  MXFP4 (OCP MX v1.0): E2M1 + an E8M0 scale per 32 = 4 + 8/32 = 4.25.
- FP8 E4M3 per tensor or per channel = 8; FP8 with 128 x 128 blocks and fp32 scales (DeepSeek-V3) =
  8 + 32/16384. int8 per channel (W8A16, SmoothQuant W8A8) = 8. fp16 / bf16 = 16.

``WeightFormat.weight_bytes(n)`` = ceil(n x bits_per_weight / 8), computed exactly in rationals (7e9 weights
in Q4_0 = 3,937,500,000 bytes).

**Compute paths.** ``weight_only``: the GEMM kernel reads the quantised weights and dequantises them in
registers to fp16/bf16 for 16-bit tensor-core math (W4A16: Marlin / AWQ / exllama; W8A16; FP8 and FP4
Marlin before Ada / Blackwell). ``native_compute``: the precision path of low-precision tensor-core math
when the activations are quantised too: ``"int8"`` (SmoothQuant W8A8 from Turing; and every GGUF type,
since llama.cpp's CUDA backend quantises the activations to q8_1 and multiplies in int8 with ``__dp4a``
(mmvq) or int8 MMA (mmq), whatever activation precision is asked for), ``"fp8"`` (W8A8 FP8 from Ada /
Hopper), ``"fp4"`` (NVFP4 / MXFP4 W4A4 on Blackwell, where the block-scaled MMA applies the scales in
hardware); None when there is none. ``native_min_arch`` names the oldest architecture with that path.

**Dequantisation work** (``dequant_flops_per_weight``, FLOP per weight element the kernel reads, on the
weight-only path; ``native_dequant_flops_per_weight`` on the native path). Counted per element lane: an
add, sub or mul = 1 FLOP, an FMA = 2 FLOP (the convention of a vector peak in FLOP/s). Integer and logic
instructions (LOP3, PRMT, shifts, int-to-float conversions) are counted apart in
``dequant_int_ops_per_weight`` (32-bit instructions divided by the elements they produce). Derivations:

- 4-bit integer, Marlin (IST-DASLab/marlin ``dequant``, vLLM ``gptq_marlin`` / ``awq_marlin``): one 32-bit
  word of 8 nibbles becomes fp16 pairs by 4 LOP3 ``(q & mask) | 0x6400`` (the nibble lands in an fp16
  mantissa of 1024 + q) plus one shift, then per 4 values one ``hsub2`` (2 FLOP) and one ``hfma2`` (4 FLOP)
  remove the 1024 magic bias (and the symmetric -8): 6 / 4 = 1.5 FLOP; ``sub_zp`` (``hsub2``, asymmetric
  AWQ / GPTQ zero points) 1 FLOP; ``scale`` (``hmul2`` by the group scale) 1 FLOP. Symmetric: 2.5 FLOP,
  asymmetric: 3.5 FLOP, and 5/8 = 0.625 integer op per weight either way. AutoAWQ's own GEMM does the same
  work (magic-number convert, ``hsub2`` zero, ``hfma2`` scale).
- 8-bit integer, Marlin ``uint8b128``: per 4 values 2 PRMT into ``0x64xx`` and 2 ``hsub2`` of the magic
  = 1 FLOP + 0.5 integer op; the per-channel scale multiplies the accumulator once per output.
- FP8 / FP4 weight-only: bit moves into fp16 positions (~1 integer op) and one ``hmul2`` for the exponent
  bias (1 FLOP); block-scaled FP4 adds the scale multiply (1 FLOP): FP8 1.0, NVFP4 / MXFP4 2.0.
- GGUF weight-only (llama.cpp ``convert.cu``, dequantise to fp16 for cuBLAS): Q4_0 ``(q - 8) * d`` = 2 FLOP,
  Q4_1 / k-quants one FMA ``d1 * q + m1`` = 2 FLOP, Q6_K ``(q - 32) * d1`` = 2 FLOP, Q8_0 ``q * d`` = 1 FLOP;
  plus unpacking (0.5 per nibble, 1 per high-bit merge) and one int-to-float conversion.
- GGUF native int8 (``vecdotq.cuh``): per 8 nibbles a shift and two ANDs (0.375 integer op per weight),
  the ``__dp4a`` is the multiply-accumulate itself, and each block's integer partial sum is rescaled in
  fp32, ``d4 * (sumi * d8 - 8 * s8)``, about 4 FLOP per 16 weights = 0.25. This work repeats for every
  activation row (``native_dequant_per_token``), unlike the weight-only path's, which is done once per
  weight per M tile (Marlin: up to 64 rows, so once for decode batches).
- int8 / fp8 native paths: 0; the scales multiply the fp32/int32 accumulator in the epilogue, once per
  output element (FP8 block scales once per 128-deep K step: 2/128 FLOP per MAC, left out).

To time the weight-only dequant on the vector units: packed half2 math issues two lanes per instruction,
so ``n_weights x dequant_flops_per_weight / (fp32 vector peak in FLOP/s)`` is the right order on GPUs whose
fp16 vector rate is twice the fp32 one (A100, H100), conservative otherwise; the integer ops run at the
INT32 rate (half the FP32 rate on Ampere / Hopper).

**KV cache** (``kv_format``): bits per cached element including scales,
``element_bits + (scale_bits + zero_bits) / group`` with group = ``head_dim`` for per-token-per-head scales
(LMDeploy int8 / int4: fp16 scale and zero per token per KV head: int8 at head_dim 128 = 8 + 32/128 = 8.25),
``group_size`` for block scales (NVFP4 KV: E4M3 per 16 = 4.5), and no overhead for per-tensor scales
(vLLM fp8: one fp32 k_scale / v_scale per layer = 8).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

DATA_FILE = Path(__file__).parent / "data" / "quant_formats.toml"

#: Families of weight formats.
FAMILIES: tuple[str, ...] = ("float", "int", "gguf", "microscaling")

#: Precision paths a format can compute in natively (names of ``metrics_core.common.dtypes.PRECISION_BITS``
#: where one exists; ``fp4`` is Blackwell's block-scaled FP4).
NATIVE_PATHS: tuple[str, ...] = ("int8", "fp8", "fp4")

#: Head dimension assumed for per-token-per-head KV scales when none is given (Llama, Mistral, Qwen: 128).
DEFAULT_HEAD_DIM = 128

#: KV scale granularities.
KV_GRANULARITIES: tuple[str, ...] = ("tensor", "token-head", "block")


def _key(name: str) -> str:
    """Lookup key: case-insensitive, ``_`` and ``-`` alike."""
    return name.strip().lower().replace("_", "-")


def _unknown(kind: str, name: str, formats: tuple[Any, ...]) -> ValueError:
    """The error for an unknown name: the known names and the closest names or aliases (difflib)."""
    labels = {_key(label): label for f in formats for label in (*f.aliases, f.name)}
    close = difflib.get_close_matches(_key(name), list(labels), n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(labels[c] for c in close)}? " if close else ""
    names = ", ".join(f.name for f in formats)
    return ValueError(f"unknown {kind} format {name!r}; {hint}choose one of {names}")


@dataclass(frozen=True)
class WeightFormat:
    """One weight storage format (fields as in ``data/quant_formats.toml``; bits, FLOP per weight element).

    ``group_size`` weights share one ``scale_bits`` scale and ``zero_bits`` zero point (0 = per channel /
    tensor, overhead left out); ``super_block_size`` weights share ``super_block_bits`` more (GGUF k-quants).
    ``mix`` formats take ``published_bits_per_weight`` instead (llama.cpp's measured file figure).
    """

    name: str
    aliases: tuple[str, ...]
    family: str
    element_type: str
    element_bits: int
    group_size: int
    scale_type: str
    scale_bits: int
    zero_type: str
    zero_bits: int
    super_block_size: int
    super_block_type: str
    super_block_bits: int
    mix: bool
    mix_of: str
    #: GGUF block types: the type a llama.cpp file of this type stores ``output.weight`` in (data file doc)
    file_output: str | None
    published_bits_per_weight: Fraction | None
    weight_only: bool
    native_compute: str | None
    native_min_arch: str | None
    dequant_flops_per_weight: float
    dequant_int_ops_per_weight: float
    native_dequant_flops_per_weight: float
    native_dequant_int_ops_per_weight: float
    native_dequant_per_token: bool
    source: str

    @property
    def exact_bits_per_weight(self) -> Fraction:
        """Bits per weight as an exact rational (the module doc's formula, or the published mix figure)."""
        if self.mix:
            assert self.published_bits_per_weight is not None
            return self.published_bits_per_weight
        bits = Fraction(self.element_bits)
        if self.group_size:
            bits += Fraction(self.scale_bits + self.zero_bits, self.group_size)
        if self.super_block_size:
            bits += Fraction(self.super_block_bits, self.super_block_size)
        return bits

    @property
    def bits_per_weight(self) -> float:
        """Bits per weight including group scales, zero points and super-block overheads."""
        return float(self.exact_bits_per_weight)

    @property
    def bytes_per_weight(self) -> float:
        """``bits_per_weight / 8``."""
        return float(self.exact_bits_per_weight / 8)

    def weight_bytes(self, n_params: float) -> int:
        """Bytes of ``n_params`` weights: ceil(n x bits_per_weight / 8) (a partial block is padded)."""
        if n_params < 0:
            raise ValueError(f"n_params must be >= 0, got {n_params}")
        return math.ceil(Fraction(n_params) * self.exact_bits_per_weight / 8)

    @property
    def scale_overhead_bits(self) -> float:
        """Bits per weight beyond the element bits (scales, zero points, super-block fields)."""
        return float(self.exact_bits_per_weight - self.element_bits)

    def dequant_flops(self, native: bool = False) -> float:
        """FLOP per weight element read, on the native path (``native``) or the weight-only path."""
        if native:
            if self.native_compute is None:
                raise ValueError(f"weight format {self.name!r} has no native low-precision path")
            return self.native_dequant_flops_per_weight
        return self.dequant_flops_per_weight


@dataclass(frozen=True)
class KVFormat:
    """One KV-cache storage format (bits per cached element; FLOP per element read by attention)."""

    name: str
    aliases: tuple[str, ...]
    element_type: str
    element_bits: int
    scale_granularity: str
    group_size: int
    scale_type: str
    scale_bits: int
    zero_type: str
    zero_bits: int
    dequant_flops_per_element: float
    native_compute: str | None
    source: str

    def exact_bits_per_element(self, head_dim: int = DEFAULT_HEAD_DIM) -> Fraction:
        """Bits per element incl. scales: ``element_bits + (scale_bits + zero_bits) / group``; the group is
        ``head_dim`` for per-token-per-head scales, ``group_size`` for block scales, none per tensor."""
        bits = Fraction(self.element_bits)
        if self.scale_granularity == "token-head":
            if head_dim <= 0:
                raise ValueError(f"head_dim must be > 0, got {head_dim}")
            bits += Fraction(self.scale_bits + self.zero_bits, head_dim)
        elif self.scale_granularity == "block":
            bits += Fraction(self.scale_bits + self.zero_bits, self.group_size)
        return bits

    def bits_per_element(self, head_dim: int = DEFAULT_HEAD_DIM) -> float:
        """Bits per cached K or V element including scales (``head_dim`` matters for per-head scales)."""
        return float(self.exact_bits_per_element(head_dim))

    def bytes_per_element(self, head_dim: int = DEFAULT_HEAD_DIM) -> float:
        """``bits_per_element / 8``."""
        return float(self.exact_bits_per_element(head_dim) / 8)

    def kv_bytes(self, n_elements: float, head_dim: int = DEFAULT_HEAD_DIM) -> int:
        """Bytes of ``n_elements`` cached K and V elements: ceil(n x bits / 8)."""
        if n_elements < 0:
            raise ValueError(f"n_elements must be >= 0, got {n_elements}")
        return math.ceil(Fraction(n_elements) * self.exact_bits_per_element(head_dim) / 8)


def _opt(value: Any) -> str | None:
    return str(value) if value else None


def _weight(entry: dict[str, Any]) -> WeightFormat:
    mix = bool(entry["mix"])
    published = entry.get("published_bits_per_weight")
    fmt = WeightFormat(
        name=entry["name"],
        aliases=tuple(entry.get("aliases", ())),
        family=entry["family"],
        element_type=entry["element_type"],
        element_bits=int(entry["element_bits"]),
        group_size=int(entry["group_size"]),
        scale_type=entry["scale_type"],
        scale_bits=int(entry["scale_bits"]),
        zero_type=entry["zero_type"],
        zero_bits=int(entry["zero_bits"]),
        super_block_size=int(entry["super_block_size"]),
        super_block_type=entry["super_block_type"],
        super_block_bits=int(entry["super_block_bits"]),
        mix=mix,
        mix_of=entry.get("mix_of", ""),
        file_output=_opt(entry.get("file_output")),
        published_bits_per_weight=Fraction(str(published)) if published is not None else None,
        weight_only=bool(entry["weight_only"]),
        native_compute=_opt(entry.get("native_compute")),
        native_min_arch=_opt(entry.get("native_min_arch")),
        dequant_flops_per_weight=float(entry["dequant_flops"]),
        dequant_int_ops_per_weight=float(entry["dequant_int_ops"]),
        native_dequant_flops_per_weight=float(entry["native_dequant_flops"]),
        native_dequant_int_ops_per_weight=float(entry["native_dequant_int_ops"]),
        native_dequant_per_token=bool(entry["native_dequant_per_token"]),
        source=entry["source"],
    )
    _check_weight(fmt)
    return fmt


def _check_weight(f: WeightFormat) -> None:
    """Reject inconsistent data-file entries (a typo there must not become a silent wrong size)."""
    problems = []
    if f.family not in FAMILIES:
        problems.append(f"family {f.family!r} not in {FAMILIES}")
    if f.element_bits <= 0 or f.group_size < 0 or f.super_block_size < 0:
        problems.append("element_bits must be > 0, group and super-block sizes >= 0")
    if not f.group_size and (f.scale_bits or f.zero_bits):
        problems.append("scale/zero bits without a group_size")
    if f.super_block_size and f.group_size and f.super_block_size % f.group_size:
        problems.append("super_block_size must be a multiple of group_size")
    if not f.super_block_size and f.super_block_bits:
        problems.append("super_block_bits without a super_block_size")
    if f.mix != (f.published_bits_per_weight is not None):
        problems.append("a mix needs published_bits_per_weight, and only a mix has one")
    if f.native_compute is not None and f.native_compute not in NATIVE_PATHS:
        problems.append(f"native_compute {f.native_compute!r} not in {NATIVE_PATHS}")
    if (f.native_compute is None) != (f.native_min_arch is None):
        problems.append("native_compute and native_min_arch go together")
    if f.file_output is not None and (f.family != "gguf" or f.mix):
        problems.append("file_output is for GGUF block types only")
    if not f.source:
        problems.append("no source")
    if problems:
        raise ValueError(f"{DATA_FILE.name}: weight format {f.name!r}: {'; '.join(problems)}")


def _kv(entry: dict[str, Any]) -> KVFormat:
    fmt = KVFormat(
        name=entry["name"],
        aliases=tuple(entry.get("aliases", ())),
        element_type=entry["element_type"],
        element_bits=int(entry["element_bits"]),
        scale_granularity=entry["scale_granularity"],
        group_size=int(entry["group_size"]),
        scale_type=entry["scale_type"],
        scale_bits=int(entry["scale_bits"]),
        zero_type=entry["zero_type"],
        zero_bits=int(entry["zero_bits"]),
        dequant_flops_per_element=float(entry["dequant_flops"]),
        native_compute=_opt(entry.get("native_compute")),
        source=entry["source"],
    )
    problems = []
    if fmt.scale_granularity not in KV_GRANULARITIES:
        problems.append(f"scale_granularity {fmt.scale_granularity!r} not in {KV_GRANULARITIES}")
    if (fmt.scale_granularity == "block") != (fmt.group_size > 0):
        problems.append("group_size is for block scales only")
    if fmt.scale_granularity == "tensor" and (fmt.scale_bits or fmt.zero_bits):
        problems.append("per-tensor scales carry no per-element bits")
    if problems:
        raise ValueError(f"{DATA_FILE.name}: kv format {fmt.name!r}: {'; '.join(problems)}")
    return fmt


def _index(kind: str, formats: tuple[Any, ...]) -> dict[str, Any]:
    index: dict[str, Any] = {}
    for fmt in formats:
        for label in (fmt.name, *fmt.aliases):
            key = _key(label)
            if key in index:
                raise ValueError(f"{DATA_FILE.name}: {kind} name {label!r} used twice")
            index[key] = fmt
    return index


@lru_cache(maxsize=1)
def _registry() -> tuple[
    tuple[WeightFormat, ...], dict[str, WeightFormat], tuple[KVFormat, ...], dict[str, KVFormat]
]:
    data = tomllib.loads(DATA_FILE.read_text(encoding="utf-8"))
    weights = tuple(_weight(e) for e in data["weight"])
    kvs = tuple(_kv(e) for e in data["kv"])
    return weights, _index("weight", weights), kvs, _index("kv", kvs)


#: Canonical weight format names, in the data file's order (CLI choices).
WEIGHT_FORMATS: tuple[str, ...] = tuple(f.name for f in _registry()[0])

#: Canonical KV-cache format names, in the data file's order.
KV_FORMATS: tuple[str, ...] = tuple(f.name for f in _registry()[2])


def weight_aliases() -> dict[str, str]:
    """Every accepted alias -> its canonical weight format name."""
    return {a: f.name for f in _registry()[0] for a in f.aliases}


def weight_format(name: str) -> WeightFormat:
    """The weight format called ``name`` or one of its aliases (case-insensitive, ``_`` = ``-``);
    ``ValueError`` listing the known names, with the closest ones suggested, otherwise."""
    formats, index, _, _ = _registry()
    try:
        return index[_key(name)]
    except KeyError:
        raise _unknown("weight", name, formats) from None


def kv_format(name: str) -> KVFormat:
    """The KV-cache format called ``name`` or one of its aliases; ``ValueError`` as ``weight_format``."""
    _, _, formats, index = _registry()
    try:
        return index[_key(name)]
    except KeyError:
        raise _unknown("kv", name, formats) from None
