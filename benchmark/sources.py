"""The contract of a weight source: what a backbone's weights are, whether they can be had, and a model carrying
them. Implementations live with what they need: timm, hub-cache and file weights in
:mod:`benchmark.engine.pretrainedsource`, the models the harness trains on a source task in
:mod:`benchmark.registry.trainedsources`, random weights among the built-in plugins."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark.inputs import named

if TYPE_CHECKING:
    from pathlib import Path

    import torch

    from benchmark.datasets import Dataset, Task
    from benchmark.inputs import InputConvention
    from benchmark.settings import RunSettings


class Source:
    """Base class of weight sources.

    ``status`` says whether the weights can be had (without downloading unless the run is online),
    ``identity`` is what determines them (it enters every experiment's config hash), ``prepare`` does
    any one-off work, ``build`` returns a fresh model carrying them with a new head, and
    ``input_convention`` is how the weights want their pixels (the preset's normalisation unless the
    weights were trained with another). ``fine_tunable`` is False for weights that are themselves a random
    initialisation: training from them is training from scratch (the ``none::scratch`` column), so the grid pairs
    such a source only with methods that do not train. ``trained_on`` and ``trained_model_path`` say whether the
    harness itself trains the weights, and where it keeps them; ``for_seed`` is the source an experiment of a seed
    uses (another object where the weights are trained per seed).
    """

    name: str = ""
    description: str = ""
    fine_tunable: bool = True

    @property
    def trained_on(self) -> tuple[Dataset, Task] | None:
        """The dataset and source task the harness trains these weights on (a target must then share none of that
        dataset's images, and the training is a job of its own), or None for weights made elsewhere."""
        return None

    @property
    def label(self) -> str:
        """How a run's output names these weights: the name, and the training seed where there is one per seed."""
        return self.name

    def for_seed(self, settings: RunSettings, seed: int) -> Source:
        """The source the experiments of ``seed`` use: this one, unless its weights are trained per seed."""
        return self

    def trained_model_path(self, settings: RunSettings) -> Path | None:
        """The file the harness trains this source's model into (it exists once trained), or None when the harness
        does not train it (``trained_on`` is None)."""
        return None

    def status(self, settings: RunSettings) -> tuple[bool, str]:
        return True, ""

    def identity(self, settings: RunSettings) -> dict:
        raise NotImplementedError

    def prepare(self, settings: RunSettings, data, on_epoch=None) -> None:
        """One-off work before the first experiment that uses this source; ``data`` is the run's
        :class:`~benchmark.data.taskdata.TaskData`, ``on_epoch`` an
        :data:`~benchmark.engine.training.EpochCallback` for a training here, or None."""

    def input_convention(self, settings: RunSettings) -> InputConvention:
        """The preset's normalisation, unless the weights want another."""
        return named(settings.preset.normalize)

    def build(self, settings: RunSettings, num_classes: int, seed: int) -> torch.nn.Module:
        raise NotImplementedError

    def build_with_own_head(self, settings: RunSettings) -> torch.nn.Module | None:
        """A fresh model carrying the weights with the classifier they were trained with (over the source's
        own classes), or ``None`` when the weights have no such head (random weights, a headless backbone):
        what estimators that read the source's predictions (LEEP, NCE) need."""
        return None
