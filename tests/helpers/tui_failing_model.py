"""A custom ``module:factory`` model whose factory fails, for the app's error-row tests."""


def broken_model():  # noqa: ANN201
    raise RuntimeError("deliberately broken factory (modeltui test)")
