"""The transfer-method contract: a :class:`Method` plugin's ``run(ctx)`` returns a :class:`MethodResult`.

Light by design (no torch at import): listing methods reads their names without loading the engine; the
context a method receives lives with the run (:mod:`benchmark.run.context`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

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

    ``shared_training`` names the harness's training that gives the method its network, when the method only
    scores or probes that network (:data:`SHARED_TRAININGS`: ``fine-tune``, the source's weights with a new head,
    all layers trained; ``random-init``, seeded random weights, all layers trained). Methods that name the same one
    share it: the network of a target, source and seed is trained once, by a training job of its own, and each
    method's :meth:`score` reads it. Such a method implements :meth:`score` instead of :meth:`run`, and
    ``trains`` must be True.
    """

    name: str = ""
    description: str = ""
    uses_source: bool = True
    version: str = "1"
    compared_with: str = ""
    trains: bool = False
    shared_training: str = ""

    @property
    def label(self) -> str:
        return self.name

    def run(self, ctx) -> MethodResult:
        """Test scores for the experiment ``ctx`` (a :class:`benchmark.run.context.ExperimentContext`: the run layer
        builds it, so the contract names it without importing it). A method with a ``shared_training`` need not
        override it: this trains its network here (as its training job would) and scores it with :meth:`score`."""
        if not self.shared_training:
            raise NotImplementedError(f"method {self.name} must implement run(ctx), or name a shared_training and "
                                      "implement score(ctx, model)")
        model = SHARED_TRAININGS[self.shared_training].start(ctx)
        history = ctx.train(model)
        result = self.score(ctx, model)
        result.history = result.history or history
        return result

    def score(self, ctx, model) -> MethodResult:
        """Test scores of ``model`` (a torch module), the network of the method's ``shared_training`` trained on
        ``ctx``'s training split (its history is added by the harness)."""
        raise NotImplementedError(f"method {self.name} names shared_training {self.shared_training!r}: it must "
                                  "implement score(ctx, model)")


@dataclass(frozen=True)
class SharedTraining:
    """A training the harness runs once for every method that names it: ``start(ctx)`` builds the untrained
    network (seeded), which ``ctx.train`` then trains; ``uses_source``: whether it starts from the source's
    weights (its methods must agree)."""

    name: str
    description: str
    uses_source: bool
    start: Callable[[object], object]


SHARED_TRAININGS = {training.name: training for training in (
    SharedTraining("fine-tune", "the source's weights with a new head for the task, all layers trained", True,
                   lambda ctx: ctx.source_model()),
    SharedTraining("random-init", "seeded random weights with a head for the task, all layers trained", False,
                   lambda ctx: ctx.random_model()),
)}


def shared_training_problem(method: Method) -> str:
    """Why ``method``'s ``shared_training`` cannot be honoured (what to change), or ''."""
    name = method.shared_training
    if not name:
        return ""
    if name not in SHARED_TRAININGS:
        return (f"method {method.name}: shared_training {name!r} is not one of {', '.join(SHARED_TRAININGS)}; "
                "leave it empty for a method that trains its own network in run(ctx)")
    if not method.trains:
        return f"method {method.name}: shared_training {name!r} trains a network: set trains = True"
    if SHARED_TRAININGS[name].uses_source != method.uses_source:
        return (f"method {method.name}: shared_training {name!r} " +
                ("starts from a source's weights: set uses_source = True" if SHARED_TRAININGS[name].uses_source
                 else "starts from random weights: set uses_source = False"))
    if type(method).score is Method.score:
        return f"method {method.name}: shared_training {name!r} needs score(ctx, model), which it does not define"
    return ""
