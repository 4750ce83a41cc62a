"""The transfer-method contract: a :class:`Method` plugin's ``run(ctx)`` returns a :class:`MethodResult`.

Light by design (no torch at import): listing methods reads their names without loading the engine; the
context a method receives lives with the run (:mod:`benchmark.run.context`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass
class MethodResult:
    """Per-class test scores (n_test, n_classes), higher meaning more likely, and what led to them: the
    training history, and in ``info`` facts of how the experiment ran (JSON values), stored with the
    experiment's versions."""

    scores: np.ndarray
    history: list[dict] = field(default_factory=list)
    info: dict = field(default_factory=dict)


class Method:
    """Base class of transfer-method plugins: ``run(ctx)`` returns test scores.

    ``uses_source`` says whether the method starts from a source's weights; a method that does not
    (scratch) appears once per target and seed, under the source ``none``, and is the board's baseline.
    ``label`` is its short name in board columns (default: ``name``); ``compared_with`` names the method it is
    tested against on each source, and subtracted from in the board's differences row (FT against FE).
    ``trains`` says whether it trains a network for the preset's epochs (the scheduler's cost estimate: a job that
    does costs an image count times epochs, one that only extracts features an image count once).
    """

    name: str = ""
    description: str = ""
    uses_source: bool = True
    version: str = "1"
    compared_with: str = ""
    trains: bool = False

    @property
    def label(self) -> str:
        return self.name

    def run(self, ctx) -> MethodResult:
        """Test scores for the experiment ``ctx`` (a :class:`benchmark.run.context.ExperimentContext`: the run layer
        builds it, so the contract names it without importing it)."""
        raise NotImplementedError
