"""One module per CLI verb; each exposes ``register(subparsers)`` and ``run(args) -> int``."""

#: Verb modules in help order. A verb's module is imported only when the CLI is built.
VERBS: tuple[str, ...] = (
    "compare", "layers", "diff", "models", "hardware", "roofline", "bench", "calibrate", "sweep", "llm",
    "train", "split", "pareto", "pick", "cache", "completion"
)  # fmt: skip
