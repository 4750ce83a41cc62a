"""Pretrained weights from a file into a timm model: reading the file's tensors whatever wrapped them, fitting
their names to the model, and saying exactly which names do not fit when they do not.

Formats read: safetensors, and torch files (``.pt``, ``.pth``, ``.bin``, ``.ckpt``) holding a state dict,
possibly under ``state_dict`` (Lightning), ``model_state_dict``, ``model`` or ``net``. Keys lose a given
``prefix``, and a ``module.`` (DDP) or ``_orig_mod.`` (torch.compile) prefix that every key carries; then the
model's own timm checkpoint filter (``checkpoint_filter_fn`` of its module, as timm applies to its pretrained
weights) converts foreign layouts (torchvision's VGG, original ViT and DINOv2 releases) and resizes position
embeddings to the model's image size.

Every file read is checked before use: a malformed file, a tensor of an integer or boolean dtype where weights
belong, or a NaN or Inf value is a :class:`WeightsFileError` naming the file (and the first bad key).
"""

from __future__ import annotations

import difflib
import functools
import inspect
import pickle
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.hashing import state_dict_hash

if TYPE_CHECKING:  # the functions that read tensors import torch: a source's status is asked without it
    import torch

WRAPPERS = ("state_dict", "model_state_dict", "model", "net")
AUTO_PREFIXES = ("module.", "_orig_mod.")
SHOWN = 10  # names listed per kind of mismatch
# integer buffers that checkpoints carry besides weights (a BatchNorm's step counter, a relative-position table)
INTEGER_BUFFERS = ("num_batches_tracked", "relative_position_index", "position_ids")


class WeightsFileError(ValueError):
    """Weights that cannot go into the model; the message names the file, the keys and what to change."""


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file by name, unwrapped from a checkpoint's ``state_dict`` / ``model`` / ...
    entry, with no prefix removed."""
    import torch

    path = Path(path)
    if not path.is_file():
        what = "is not a regular file" if path.exists() else "does not exist"
        raise WeightsFileError(f"weights file {path} {what}")
    if path.suffix == ".safetensors":
        return checked(_read_safetensors(path), path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        if found is None:
            raise WeightsFileError(f"{path} is not a readable torch or safetensors weights file (its pickle does "
                                   "not load)") from None
        raise WeightsFileError(
            f"{path} holds Python objects besides tensors ({found.group(1)}), which tlbench does not unpickle (they "
            "could run code). Save only the weights, e.g. in Python: "
            "torch.save(torch.load(FILE, weights_only=False)['state_dict'], 'weights.pt')") from None
    except Exception as error:  # not a torch file at all: zip, EOF and pickle errors differ by version
        raise WeightsFileError(f"{path} is not a readable torch or safetensors weights file "
                               f"({type(error).__name__}: {error})") from None
    return checked(_unwrap(loaded, path), path)


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, TypeError) as error:  # a damaged header, a truncated file
        raise WeightsFileError(f"{path} is not a readable safetensors file ({error}); save the weights "
                               "again or replace the file") from None


def checked(tensors: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """``tensors`` when every one holds finite floating-point weights (integer buffers named in
    :data:`INTEGER_BUFFERS` aside); else WeightsFileError naming the file and the first bad key."""
    import torch

    for name, value in tensors.items():
        if not value.is_floating_point():
            if name.endswith(INTEGER_BUFFERS) and not value.is_complex() and value.dtype != torch.bool:
                continue
            raise WeightsFileError(f"{path} holds {name} as {value.dtype}, not floating point: tlbench would "
                                   "have to cast it, which changes the weights; save the float weights instead "
                                   "(a quantised model cannot be used)")
        if not bool(torch.isfinite(value.float() if value.element_size() == 1 else value).all()):
            raise WeightsFileError(f"{path} holds NaN or Inf values, first in {name}: the weights are damaged "
                                   "(a training that diverged, or a bad conversion); use another checkpoint")
    return tensors


def _unwrap(loaded, path: Path) -> dict[str, torch.Tensor]:
    import torch

    while isinstance(loaded, dict) and not any(isinstance(v, torch.Tensor) for v in loaded.values()):
        inner = next((key for key in WRAPPERS if isinstance(loaded.get(key), dict)), None)
        if inner is None:
            raise WeightsFileError(f"{path} holds no tensors at its top level nor under any of "
                                   f"{', '.join(WRAPPERS)}; its keys: {', '.join(map(str, list(loaded)[:SHOWN]))}")
        loaded = loaded[inner]
    if not isinstance(loaded, dict):
        raise WeightsFileError(f"{path} holds a {type(loaded).__name__}, not a state dict of tensors")
    return {name: value for name, value in loaded.items() if isinstance(value, torch.Tensor)}


def strip_prefix(tensors: dict[str, torch.Tensor], prefix: str, path: Path) -> dict[str, torch.Tensor]:
    """The tensors whose names start with ``prefix``, without it (others are dropped: a checkpoint's other
    networks), then without a ``module.`` or ``_orig_mod.`` that all of them carry."""
    if prefix:
        kept = {name[len(prefix):]: value for name, value in tensors.items() if name.startswith(prefix)}
        if not kept:
            raise WeightsFileError(f"no key of {path} starts with prefix {prefix!r}; its keys start with "
                                   f"{', '.join(_first_parts(tensors))}")
        tensors = kept
    for auto in AUTO_PREFIXES:
        if tensors and all(name.startswith(auto) for name in tensors):
            tensors = {name[len(auto):]: value for name, value in tensors.items()}
    return tensors


def _first_parts(tensors) -> list[str]:
    return sorted({name.split(".")[0] + "." for name in tensors})[:SHOWN]


def timm_layout(tensors: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The tensors passed through the checkpoint filter of the model's timm module, when it has one."""
    module = sys.modules.get(type(model).__module__)
    convert = getattr(module, "checkpoint_filter_fn", None) or getattr(module, "_filter_fn", None)
    if convert is None:
        return tensors
    takes_model = len(inspect.signature(convert).parameters) > 1
    return convert(tensors, model) if takes_model else convert(tensors)


def head_names(model: torch.nn.Module) -> tuple[str, ...]:
    """The parameter names of the model's classifier (``fc.weight``, ``fc.bias``; none when it has none)."""
    head = model.get_classifier()
    prefixes = tuple(f"{name}." for name, module in model.named_modules() if module is head and name)
    return tuple(name for name in model.state_dict() if name.startswith(prefixes))


def head_classes(tensors: dict[str, torch.Tensor], model: torch.nn.Module) -> int | None:
    """How many classes the file's classifier has, when it holds one shaped for this backbone's head."""
    weight = next((name for name in head_names(model) if name.endswith("weight")), None)
    if weight is None or weight not in tensors:
        return None
    wanted = model.state_dict()[weight].shape[1:]
    found = tensors[weight]
    return int(found.shape[0]) if found.ndim >= 2 and found.shape[1:] == wanted else None


def mismatches(tensors: dict[str, torch.Tensor], model: torch.nn.Module, with_head: bool = False) -> list[str]:
    """What keeps ``tensors`` from the model (its classifier aside unless ``with_head``): backbone keys the file
    lacks, file keys the model lacks, and shapes that differ, each with the nearest names; empty when they fit."""
    own = model.state_dict()
    head = set() if with_head else set(head_names(model))
    body = {name: value for name, value in own.items() if name not in head}
    given = {name: value for name, value in tensors.items() if name not in head}
    # older BatchNorm checkpoints lack the step counter, which loading fills in
    missing = [name for name in body if name not in given and not name.endswith("num_batches_tracked")]
    unexpected = [name for name in given if name not in own]
    shapes = [f"{name}: file {tuple(given[name].shape)}, model {tuple(body[name].shape)}"
              for name in body if name in given and given[name].shape != body[name].shape]
    problems = []
    if missing:
        problems.append(_listed(f"{len(missing)} key(s) of the model are not in the file", missing, list(given)))
    if unexpected:
        problems.append(_listed(f"{len(unexpected)} key(s) of the file are not in the model", unexpected, list(own)))
    if shapes:
        problems.append(f"{len(shapes)} tensor(s) differ in shape: " + "; ".join(shapes[:SHOWN])
                        + (f"; and {len(shapes) - SHOWN} more" if len(shapes) > SHOWN else ""))
    hint = _prefix_hint(unexpected, own)
    return ([hint] if hint else []) + problems


def _listed(what: str, names: list[str], other: list[str]) -> str:
    shown = []
    for name in names[:SHOWN]:
        near = difflib.get_close_matches(name, other, n=2, cutoff=0.6)
        shown.append(f"{name} (nearest: {', '.join(near)})" if near else name)
    more = f", and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return f"{what}: {', '.join(shown)}{more}"


def _prefix_hint(unexpected: list[str], own: dict) -> str:
    """``prefix = "..."`` when the file's stray keys are the model's under one prefix."""
    for name in unexpected:
        for candidate in own:
            if name.endswith("." + candidate):
                prefix = name[: -len(candidate)]
                fitting = sum(1 for n in unexpected if n.startswith(prefix) and n[len(prefix):] in own)
                if fitting >= len(unexpected) / 2:
                    return f'the file\'s keys look like the model\'s under a prefix: set prefix = "{prefix}"'
                break
    return ""


def load_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor], label: str,
                 with_head: bool = False) -> torch.nn.Module:
    """Load ``tensors`` (already in the model's timm layout) into ``model``, its new classifier kept unless
    ``with_head``; :class:`WeightsFileError` naming every mismatch when they do not fit."""
    problems = mismatches(tensors, model, with_head)
    if problems:
        raise WeightsFileError(f"{label} does not fit {type(model).__name__}:\n  " + "\n  ".join(problems))
    head = set() if with_head else set(head_names(model))
    model.load_state_dict({name: value for name, value in tensors.items() if name not in head}, strict=False)
    return model


def file_tensors(path: Path, prefix: str = "") -> dict[str, torch.Tensor]:
    """A weights file's tensors, unwrapped and with ``prefix`` (and any DDP prefix) removed."""
    return strip_prefix(read_tensors(path), prefix, Path(path))


def tensors_digest(path: Path, prefix: str = "") -> str:
    """The content digest of the tensors :func:`file_tensors` reads (the same weights saved as .pth or as
    .safetensors give the same digest), or its WeightsFileError; either found once per process for an unchanged
    file."""
    stat = Path(path).stat()
    digest, problem = _digest(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, prefix)
    if problem:
        raise WeightsFileError(problem)
    return digest


@functools.lru_cache(maxsize=16)
def _digest(path: str, size: int, mtime_ns: int, prefix: str) -> tuple[str, str]:
    try:
        return state_dict_hash(file_tensors(Path(path), prefix)), ""
    except WeightsFileError as error:
        return "", str(error)


def hub_cached_file(model_name: str) -> Path | None:
    """The timm model's pretrained weights (its tag's, or the default tag's) in the local Hugging Face cache,
    if they are there; nothing is downloaded."""
    try:
        from huggingface_hub import constants, try_to_load_from_cache
    except ImportError:
        return None
    if not any(Path(constants.HF_HUB_CACHE).glob("models--*")):  # an empty cache: no need to ask timm (and torch)
        return None
    import timm

    try:
        cfg = timm.models.get_pretrained_cfg(model_name)
    except Exception:
        return None
    if cfg is None or not cfg.hf_hub_id:
        return None
    repo = cfg.hf_hub_id.split("@")[0]
    for filename in ("model.safetensors", "pytorch_model.bin", cfg.hf_hub_filename):
        if filename:
            found = try_to_load_from_cache(repo, filename)
            if isinstance(found, str):
                return Path(found)
    return None
