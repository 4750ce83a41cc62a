"""Trained models kept under the run folder (``models/<config hash>.pt``), for figures made after the run.

Which ones, ``--keep-models`` says (:data:`~benchmark.settings.KEEP_POLICIES`): ``auto`` (the default) keeps a
model an experiment trained when its weights take at most :data:`AUTO_LIMIT_BYTES`: every backbone of the CPU
presets, so that the embedded default's report can show how fine-tuning changed the filters, but not VGG16, whose
528 MB per fine-tuning would make the study's grid (45 fine-tunings and 15 scratch models) about 32 GB. ``all``
keeps every one, ``none`` none.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.files.cachefiles import write_atomically
from benchmark.inputs import InputConvention
from benchmark.settings import KEEP_POLICIES

if TYPE_CHECKING:  # torch and the engine load where a model is written or read: naming its file needs neither
    import torch

MODELS_DIR = "models"
_FORMAT = 1
AUTO_LIMIT_BYTES = 64 * 2**20


def model_bytes(model: torch.nn.Module) -> int:
    """The bytes of a module's weights and buffers."""
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def should_keep(policy: str, model: torch.nn.Module) -> bool:
    """Whether ``--keep-models policy`` keeps ``model``; ValueError for a policy not in KEEP_POLICIES."""
    if policy not in KEEP_POLICIES:
        raise ValueError(f"--keep-models {policy!r}: use one of {', '.join(KEEP_POLICIES)}")
    return policy == "all" or (policy == "auto" and model_bytes(model) <= AUTO_LIMIT_BYTES)


def kept_path(run_dir: Path, config_hash: str) -> Path:
    """Where an experiment's model is kept; a shared training's, by its key, for every experiment that scored it."""
    return Path(run_dir) / MODELS_DIR / f"{config_hash}.pt"


def row_kept_path(run_dir: Path, row: dict) -> Path:
    """Where the model of a stored row would be kept: its shared training's (``versions["training"]``, the key
    that :mod:`benchmark.run.trainings` gives), else its own by config hash."""
    training = (row.get("versions") or {}).get("training")
    return kept_path(run_dir, training if isinstance(training, str) and re.fullmatch(r"[0-9a-f]+", training)
                     else row["config_hash"])


def save_model(run_dir: Path, config_hash: str, model: torch.nn.Module, backbone: str, num_classes: int,
               convention: InputConvention, about: dict, image_size: int | None = None) -> Path:
    """Write ``model``'s weights (on the CPU) with what rebuilds it (``image_size``: the size a ViT was built
    for; the model arguments it was created with), as the cache writes its files (a temporary file flushed and
    renamed, so a reader never sees half a file; OSError when the disk lacks the room)."""
    import torch

    from benchmark.engine.models import model_args_of

    path = kept_path(run_dir, config_hash)
    payload = {
        "format": _FORMAT, "backbone": backbone, "num_classes": num_classes, "image_size": image_size,
        "input": convention.as_dict(), "about": about, "model_args": model_args_of(model),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    with write_atomically(path, model_bytes(model)) as partial:
        torch.save(payload, partial)
    return path


class KeptModelError(ValueError):
    """A kept model that cannot be read; the message names the file and what to do."""


def load_model(path: Path) -> tuple[torch.nn.Module, dict]:
    """The kept model (eval mode, on the CPU, tagged with its input convention) and its ``about`` record
    (node_id, source, target, method, seed); :class:`KeptModelError` naming the file when it is not a regular
    file (a FIFO would block the reader) or not a model tlbench kept."""
    import torch

    from benchmark.engine.inputs import attach
    from benchmark.engine.models import create_backbone

    path = Path(path)
    if not path.is_file():
        raise KeptModelError(f"{path} is not a regular file; delete it (`tlbench run --rerun all --keep-models all` "
                             "keeps the model again)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's message advises weights_only=False, which could run code
        raise KeptModelError(f"{path} holds Python objects besides tensors, which tlbench does not unpickle: it was "
                             "not kept by tlbench; delete it") from None
    except Exception as error:  # a torn or foreign file fails in many ways (zip, EOF, pickle)
        raise KeptModelError(f"{path} is not a readable kept model ({type(error).__name__}); delete it, or rerun "
                             "its experiment with --rerun all to keep it again") from None
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise KeptModelError(f"{path}: kept by another tlbench version (format {found}); rerun the experiment with "
                             "--rerun all to keep it again")
    try:
        args = {"image_size": payload.get("image_size"), **payload.get("model_args", {})}
        model = create_backbone(payload["backbone"], payload["num_classes"], **args)
        model.load_state_dict(payload["state_dict"])
        convention = payload["input"]
        convention = InputConvention(**{**convention, "mean": tuple(convention["mean"]),
                                        "std": tuple(convention["std"])})
    except Exception as error:  # fields missing or altered: the file is not what tlbench wrote
        raise KeptModelError(f"{path} is damaged ({type(error).__name__}: {_first_line(error)}); delete it, or rerun "
                             "its experiment with --rerun all to keep it again") from None
    return attach(model.eval(), convention), payload["about"]


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""
