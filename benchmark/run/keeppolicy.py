"""Which trained models a run keeps (``--keep-models``).

``auto`` (the default) keeps a model an experiment trained when its weights take at most
:data:`AUTO_LIMIT_BYTES`: every backbone of the CPU presets, so that the embedded default's report can show
how fine-tuning changed the filters, but not VGG16, whose 528 MB per fine-tuning would make the study's grid
(45 fine-tunings and 15 scratch models) about 32 GB. ``all`` keeps every one, ``none`` none.
"""

from __future__ import annotations

KEEP_POLICIES = ("auto", "all", "none")
AUTO_LIMIT_BYTES = 64 * 2**20


def model_bytes(model) -> int:
    """The bytes of a torch module's weights and buffers."""
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def should_keep(policy: str, model) -> bool:
    if policy not in KEEP_POLICIES:
        raise ValueError(f"--keep-models {policy!r}: use one of {', '.join(KEEP_POLICIES)}")
    return policy == "all" or (policy == "auto" and model_bytes(model) <= AUTO_LIMIT_BYTES)
