"""Filter images of every model a run folder has: the sources its experiments used, the models it kept, and
the starting weights of each kept fine-tuned model; computed once per report (``ctx.memo["filters"]``).

Stages are the first :data:`STAGES` of the backbone's ``feature_info`` (VGG16: blocks 1-3, 64, 128 and 256
channels, the study's 8x8, 11x11 and 16x16 grids), every channel of each. Models whose weights outside the
head are equal (a dataset source's model, whatever the seed of its new head) share one computation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
import torch

from benchmark.engine.featurecache import weights_fingerprint
from benchmark.engine.inputs import attach, input_of
from benchmark.engine.seeding import seeded
from benchmark.inputs import InputConvention
from benchmark.presets import Preset
from benchmark.report.filters.activationmax import forward_until, maximise
from benchmark.run.keptmodels import KeptModelError, load_model

STAGES = 3
MAXIMISE_SEED = 0  # every model starts from the same noise, so their images differ by their weights alone


@dataclass(frozen=True)
class StageFilters:
    """One stage's filter images (C, H, W, 3) in [0, 1] and the mean activation (C,) each reached, for
    ``channels`` of the output of ``module`` (its name in the model)."""

    stage: int
    module: str
    channels: tuple[int, ...]
    images: np.ndarray
    activations: np.ndarray


@dataclass(frozen=True)
class ModelFilters:
    """The filters of one model. ``key`` is file-name safe, ``label`` is for titles; ``kind`` is "source",
    or "fine-tuned"; ``first_conv`` holds the first convolution's kernels (O, kh, kw, 3) in RGB
    order, raw weights; ``stage_weights[s]`` the flattened parameters of every module the forward pass runs up
    to and including stage ``s`` (for a weight-space distance between two models)."""

    key: str
    label: str
    kind: str
    source: str | None
    target: str | None
    seed: int
    config_hash: str
    stages: list[StageFilters]
    first_conv: np.ndarray
    stage_weights: dict[int, np.ndarray]
    method: str = ""
    style: str = "regularised"
    image_size: int = 0


def safe_key(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def first_conv_kernels(model: torch.nn.Module, inputs: InputConvention) -> np.ndarray:
    """The first convolution's kernels (O, kh, kw, 3), channels in RGB order even for BGR weights."""
    name = getattr(model, "pretrained_cfg", {}).get("first_conv", "")
    modules = dict(model.named_modules())
    conv = modules.get(name) or next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    kernels = conv.weight.detach().cpu().float().permute(0, 2, 3, 1).numpy()
    return np.ascontiguousarray(kernels[..., ::-1] if inputs.bgr else kernels)


def stage_weights(model: torch.nn.Module, stage_modules: list[str], size: int) -> dict[int, np.ndarray]:
    """For each stage (1-based), the flattened parameters of the modules run before its output is made, in
    the order they run (found by one forward pass of a blank image, stopped at the last stage)."""
    modules = dict(model.named_modules())
    ran: list[torch.nn.Module] = []
    ends: dict[int, int] = {}  # stage -> how many modules had started when its output was made

    def started(module, _inputs):
        ran.append(module)

    def ended(stage: int):
        def hook(_module, _inputs, _output):
            ends.setdefault(stage, len(ran))

        return hook

    handles = [m.register_forward_pre_hook(started) for m in model.modules()]
    handles += [modules[name].register_forward_hook(ended(s)) for s, name in enumerate(stage_modules, start=1)]
    try:
        with torch.no_grad():
            device = next(model.parameters()).device
            forward_until(model, modules[stage_modules[-1]], torch.zeros(1, 3, size, size, device=device))
    finally:
        for handle in handles:
            handle.remove()
    weights = {}
    for stage in ends:
        unique = dict.fromkeys(ran[: ends[stage]])
        params = [p.detach().cpu().reshape(-1) for m in unique for p in m.parameters(recurse=False)]
        weights[stage] = torch.cat(params).numpy() if params else np.zeros(0, np.float32)
    return weights


def compute_filters(model: torch.nn.Module, size: int, style: str, device: torch.device, **identity) -> ModelFilters:
    """The :class:`ModelFilters` of ``model`` (tagged with its input convention) at ``size`` px; ``identity``
    fills the other fields (key, label, kind, source, target, seed, config_hash, method)."""
    inputs = input_of(model, None)
    info = model.feature_info[:STAGES]
    names = [stage["module"] for stage in info]
    modules = dict(model.named_modules())
    first = first_conv_kernels(model, inputs)
    model.eval()
    weights = stage_weights(model, names, size)
    stages = []
    for stage, (name, entry) in enumerate(zip(names, info, strict=True), start=1):
        channels = tuple(range(entry["num_chs"]))
        images, activations = maximise(model, modules[name], channels, size, inputs, device, style=style,
                                       seed=MAXIMISE_SEED)
        stages.append(StageFilters(stage, name, channels, images, activations))
    return ModelFilters(stages=stages, first_conv=first, stage_weights=weights, style=style, image_size=size,
                        **identity)


def _memoised(ctx, model: torch.nn.Module, size: int, **identity) -> ModelFilters:
    """The model's filters, computed once per report for its weights (outside the head) and input."""
    memo = ctx.memo.setdefault("filters", {}).setdefault("by_weights", {})
    key = (weights_fingerprint(model), size, str(input_of(model, None).as_dict()), ctx.style)
    if key not in memo:
        memo[key] = compute_filters(model, size, ctx.style, ctx.settings.device, **identity)
    return memo[key]


def _source_identity(name: str, preset: Preset, seed: int | None = None) -> dict:
    scale = f"{preset.backbone}-{preset.image_size}px"
    seeded_label = f" (seed {seed})" if seed is not None else ""
    return {"key": safe_key(f"{name}{'-seed' + str(seed) if seed is not None else ''}-{scale}"),
            "label": f"{name}{seeded_label} · {preset.backbone} {preset.image_size}px", "kind": "source",
            "source": name, "target": None, "seed": seed or 0, "config_hash": ""}


def model_filters(ctx) -> list[ModelFilters]:
    """Filters of every source model the run used (built as the study drew them: the source's weights, a
    2-class head, seed 0; of a source trained per seed, the model of the lowest seed run) and of every kept model
    that a method trained from a source (kind "fine-tuned"; a scratch model, trained from random weights with no
    source to compare with, is left out), in that order."""
    memo = ctx.memo.setdefault("filters", {})
    if "models" in memo:
        return memo["models"]
    sources, models, kept = ctx.catalog.all_sources(), [], {}
    for name, settings, seed in ctx.track(ctx.used_sources(), "filters of source models", label=lambda s: s[0]):
        source = sources.get(name)
        if source is None or not source.status(settings)[0]:
            continue
        drawn = source.for_seed(settings, seed)
        with seeded(0):
            model = attach(drawn.build(settings, 2, seed=0), drawn.input_convention(settings))
        identity = _source_identity(name, settings.preset, None if drawn is source else seed)
        models.append(_memoised(ctx, model, settings.preset.image_size, **identity))
    for row, path in ctx.track(ctx.kept_models(), "filters of kept models", label=lambda k: k[0]["node_id"]):
        if row["source"] == "none":
            continue
        try:
            model, _about = load_model(path)
        except KeptModelError as error:
            ctx.warnings.append(f"kept model left out of the filter figures: {error}")
            continue
        preset = Preset.from_fields(row["preset"])
        kept[row["config_hash"]] = (row, model.get_classifier().out_features)
        identity = {
            "key": safe_key(f"{row['method']}-{row['source']}-{row['target']}-seed{row['seed']}-{preset.backbone}-"
                            f"{preset.image_size}px-{row['config_hash'][:8]}"),
            "label": f"{row['method']} · {row['source']} → {row['target']} · seed {row['seed']}",
            "kind": "fine-tuned", "source": row["source"], "target": row["target"], "seed": row["seed"],
            "config_hash": row["config_hash"], "method": row["method"],
        }
        models.append(compute_filters(model, preset.image_size, ctx.style, ctx.settings.device, **identity))
    memo["models"], memo["kept"] = models, kept
    return models


def filter_pairs(ctx) -> list[tuple[ModelFilters, ModelFilters]]:
    """(before, after) for each kept fine-tuned model: before is its starting weights, built as the
    experiment built them (the row's preset, ``source.build(settings, num_classes, seed)`` under
    ``seeded(seed)``); a source model with the same weights outside the head is shared."""
    models = model_filters(ctx)
    memo = ctx.memo["filters"]
    if "pairs" in memo:
        return memo["pairs"]
    sources, pairs = ctx.catalog.all_sources(), []
    for after in ctx.track(models, "filters before fine-tuning", label=lambda m: m.label):
        if after.kind != "fine-tuned" or after.source is None:
            continue
        row, num_classes = memo["kept"][after.config_hash]
        source = sources.get(after.source)
        settings = replace(ctx.settings, preset=Preset.from_fields(row["preset"]))
        if source is None or not source.status(settings)[0]:
            continue
        source = source.for_seed(settings, after.seed)
        with seeded(after.seed):
            before = attach(source.build(settings, num_classes, after.seed), source.input_convention(settings))
        identity = _source_identity(after.source, settings.preset, after.seed)
        pairs.append((_memoised(ctx, before, settings.preset.image_size, **identity), after))
    memo["pairs"] = pairs
    return pairs
