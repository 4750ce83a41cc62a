"""The optional config file: ``tlbench.toml`` in the working directory, else ``[tool.tlbench]`` in
``./pyproject.toml``.

Keys read here: ``data_root`` and ``cache_dir`` (relative paths are relative to the config file), and
datasets declared without code, as ``[[datasets]]`` entries with a ``name`` or as ``[datasets.NAME]``
tables::

    data_root = "../shared/data"

    [datasets.cifar10]
    format = "imagefolder"      # class-per-folder, optionally under train/ val/ test/ folders
    path = "cifar10"            # relative to the data root
    modality = "natural"
    imaging = "natural"         # optional: xray, cells, dermoscopy, fundus, natural or other (default); sets the
                                # leak audit's threshold
    roles = ["source"]
    group_pattern = "^(?P<group>[^_]+)_"  # optional: a file name's patient (the group named group, or the first)
    window = [0, 4095]          # optional: 16-bit images mapped from this fixed range (else each by its own),
                                # or "dataset-percentiles": the 0.5th and 99.5th percentiles of each split's
                                # training images (window_percentiles = [1, 99] for others)

    [datasets.lesions]
    format = "csv"              # columns path,label[,split][,group]; paths relative to `path`
    path = "lesions"
    csv = "labels.csv"
    roles = ["target"]

Sources of pretrained weights are declared as ``[sources.NAME]`` tables (or ``[[sources]]`` entries), each a timm
backbone and a weights file (relative to the config file)::

    [sources.radimagenet]
    backbone = "resnet50"
    weights = "weights/RadImageNet-ResNet50.pth"
    prefix = "backbone."                # optional: only keys under it, without it
    mean = [0.5, 0.5, 0.5]              # optional mean, std, interpolation: else the backbone's pretrained_cfg
    std = [0.5, 0.5, 0.5]
    model_args = {pad_type = "same"}    # optional: keyword arguments of timm.create_model (TF-ported weights)

or, instead of mean and std, a named input: ``input = "caffe"`` for weights ported from Caffe or Keras' VGG16 (BGR,
0-255, the ImageNet mean subtracted per channel).

or timm's own pretrained weights with model arguments (what ``-s timm:MODEL`` gives, without them)::

    [sources.vit-in21k]
    timm = "vit_small_patch16_224.augreg_in21k"
    model_args = {drop_path_rate = 0.1}

A top-level ``model_args = {KEY = VALUE}`` table gives the preset's backbone its model arguments (scratch,
``random``, ``imagenet`` and the sources tlbench trains), as ``--model-arg KEY=VALUE`` does.

Other keys are left to the code that reads them from :attr:`Config.table`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from benchmark.data.windows import PercentileWindow, Window
from benchmark.datasets import IMAGING, SOURCE, TARGET
from benchmark.names import MAX_LENGTH, name_problem
from benchmark.presets import check_model_args, model_args_pairs

CONFIG_FILE = "tlbench.toml"
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
FORMATS = ("imagefolder", "csv")
MODALITIES = ("medical", "natural")
_DECLARATION_KEYS = {"name", "format", "path", "csv", "modality", "imaging", "roles", "classes", "description",
                     "homepage", "provenance", "group_pattern", "window", "window_percentiles"}
_SOURCE_KEYS = {"name", "backbone", "weights", "prefix", "mean", "std", "interpolation", "description", "model_args",
                "timm", "input"}
SOURCE_INPUTS = ("caffe", "imagenet", "half", "unit")  # benchmark.engine.inputs.NAMED
_TIMM_SOURCE_KEYS = {"name", "timm", "model_args", "description"}
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
RESERVED_SOURCES = ("none",)  # the source of methods without one


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class DatasetDeclaration:
    """A dataset declared in the config: ``format`` is ``imagefolder`` or ``csv``; ``path`` is
    relative to the data root unless absolute; ``csv`` (csv format) is relative to ``path``."""

    name: str
    format: str
    path: Path
    csv: Path | None = None
    modality: str = "medical"
    imaging: str = "other"  # the kind of picture (benchmark.datasets.IMAGING): sets the leak audit's threshold
    roles: frozenset[str] = frozenset({TARGET})
    classes: tuple[str, ...] = ()
    description: str = ""
    homepage: str = ""
    provenance: frozenset[str] = frozenset()  # the image collections it comes from (see Dataset.provenance)
    group_pattern: str = ""  # imagefolder: a regex whose group ``group`` (else first) is a file name's patient
    window: Window | None = None  # images of more than 8 bits mapped from this window (else their own range)

    def as_dict(self) -> dict:
        """What determines the dataset (its version); ``group_pattern`` and ``window`` only when given, so that a
        declaration without them keeps its version. ``imaging`` changes no image, only the audit's threshold."""
        return {"name": self.name, "format": self.format, "path": str(self.path),
                "csv": str(self.csv) if self.csv else None, "modality": self.modality,
                "roles": sorted(self.roles), "classes": list(self.classes), "provenance": sorted(self.provenance),
                **({"group_pattern": self.group_pattern} if self.group_pattern else {}),
                **_window_dict(self.window)}


def _window_dict(window: Window | None) -> dict:
    if isinstance(window, PercentileWindow):
        return {"window": window.kind, "window_percentiles": [window.low, window.high]}
    return {"window": list(window)} if window else {}


@dataclass(frozen=True)
class SourceDeclaration:
    """A source declared in the config: the timm ``backbone`` and the ``weights`` file to load into it (absolute),
    keeping only the keys under ``prefix`` (without it); ``mean``, ``std`` and ``interpolation`` are the input
    the weights want, ``None`` for the backbone's pretrained_cfg's; ``model_args`` the keyword arguments of
    ``timm.create_model`` the weights need (sorted pairs). With ``timm`` set (a model name with its pretrained
    tag), the source is timm's own pretrained weights and ``backbone`` and ``weights`` are unused."""

    name: str
    backbone: str
    weights: Path | None
    prefix: str = ""
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    interpolation: str | None = None
    description: str = ""
    model_args: tuple[tuple[str, object], ...] = ()
    timm: str = ""
    input: str = ""  # a named input convention instead of mean and std


@dataclass(frozen=True)
class Config:
    """What the config file says; ``path`` is ``None`` when there is no config file."""

    path: Path | None = None
    data_root: Path | None = None
    cache_dir: Path | None = None
    datasets: tuple[DatasetDeclaration, ...] = ()
    table: dict = field(default_factory=dict)
    # declarations that do not hold: (name, what is wrong); the others stay usable
    broken: tuple[tuple[str, str], ...] = ()
    sources: tuple[SourceDeclaration, ...] = ()
    broken_sources: tuple[tuple[str, str], ...] = ()
    # keyword arguments of timm.create_model for the preset's backbone (sorted pairs)
    model_args: tuple[tuple[str, object], ...] = ()


def find_config(cwd: Path | None = None) -> tuple[Path, dict] | None:
    """The config file that applies in ``cwd`` and its tlbench table, or ``None``."""
    cwd = Path(cwd or Path.cwd())
    own = cwd / CONFIG_FILE
    if own.is_file():
        return own, _read_toml(own)
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {}).get("tlbench")
        if table is not None:
            return pyproject, table
    return None


def load_config(cwd: Path | None = None) -> Config:
    """Read and check the config that applies in ``cwd`` (an empty :class:`Config` when none)."""
    found = find_config(cwd)
    if found is None:
        return Config()
    path, table = found
    base = path.parent

    def location(key: str) -> Path | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ConfigError(f"{path}: {key} must be a path string, got {value!r}")
        return base / Path(value).expanduser()

    declarations, broken = _declarations(path, _entries(path, table, "datasets"), _declaration, "dataset")
    sources, broken_sources = _declarations(path, _entries(path, table, "sources"), _source_declaration, "source")
    return Config(path, location("data_root"), location("cache_dir"), declarations, table, broken, sources,
                  broken_sources, _model_args(f"{path}: model_args", table.get("model_args", {})))


def resolve_data_root(option: Path | None, config: Config, environ=os.environ) -> Path:
    """``--data-root``, else ``TLBENCH_DATA``, else the config's ``data_root``, else ``./data``."""
    if option is not None:
        return option
    if environ.get("TLBENCH_DATA"):
        return Path(environ["TLBENCH_DATA"])
    return config.data_root or Path("data")


def resolve_cache_dir(option: Path | None, config: Config, environ=os.environ) -> Path:
    """``--cache-dir``, else ``TLBENCH_CACHE``, else the config's ``cache_dir``, else ``~/.cache/tlbench``."""
    if option is not None:
        return option
    if environ.get("TLBENCH_CACHE"):
        return Path(environ["TLBENCH_CACHE"])
    return config.cache_dir or Path.home() / ".cache" / "tlbench"


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error


def _entries(path: Path, table: dict, kind: str) -> list:
    """The entries of ``[KIND.NAME]`` tables (each given its ``name``) or of ``[[KIND]]`` entries."""
    raw = table.get(kind, [])
    if isinstance(raw, dict):  # [KIND.NAME] tables
        entries = []
        for name, entry in raw.items():
            if not isinstance(entry, dict):
                raise ConfigError(f"{path}: {kind}.{name} must be a table")
            entries.append({"name": name, **entry})
        return entries
    if isinstance(raw, list):  # [[KIND]] entries
        return raw
    raise ConfigError(f"{path}: {kind} must be [[{kind}]] entries or [{kind}.NAME] tables")


def _declarations(path: Path, entries: list, parse, noun: str) -> tuple[tuple, tuple[tuple[str, str], ...]]:
    """The valid declarations, and (name, error) for each invalid one: one bad entry blocks only itself."""
    declarations, broken = [], []
    for number, entry in enumerate(entries, start=1):
        name = entry.get("name") if isinstance(entry, dict) and isinstance(entry.get("name"), str) else f"#{number}"
        try:
            declaration = parse(path, entry)
        except ConfigError as error:
            broken.append((name, str(error)))
            continue
        if any(d.name == declaration.name for d in declarations):
            broken.append((name, f"{path}: {noun} {name!r} is declared more than once; the first is used"))
            continue
        declarations.append(declaration)
    return tuple(declarations), tuple(broken)


def _declaration(path: Path, entry) -> DatasetDeclaration:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise ConfigError(f"{path}: every declared dataset needs a name, got {entry!r}")
    name = entry["name"]
    where = f"{path}: dataset {name!r}"
    if not NAME.fullmatch(name) or "::" in name or len(name) > MAX_LENGTH:
        raise ConfigError(f"{where}: a name may hold letters, digits, '_', '.' and '-' only (it is used in node "
                          f"ids), at most {MAX_LENGTH} of them")
    unknown = set(entry) - _DECLARATION_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: "
                          f"{', '.join(sorted(_DECLARATION_KEYS))}")
    fmt = entry.get("format", "csv" if "csv" in entry else "imagefolder")
    if fmt not in FORMATS:
        raise ConfigError(f"{where}: format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not isinstance(entry.get("path"), str):
        raise ConfigError(f"{where}: give path, the dataset's folder (relative to the data root or absolute)")
    if fmt == "csv" and not isinstance(entry.get("csv"), str):
        raise ConfigError(f"{where}: the csv format needs csv = \"FILE\" (columns path,label[,split][,group])")
    modality = entry.get("modality", "medical")
    if modality not in MODALITIES:
        raise ConfigError(f"{where}: modality must be one of {', '.join(MODALITIES)}, got {modality!r}")
    imaging = entry.get("imaging", "other")
    if imaging not in IMAGING:
        raise ConfigError(f"{where}: imaging must be one of {', '.join(IMAGING)} (the kind of picture, which sets "
                          f"the leak audit's threshold; other when none fits), got {imaging!r}")
    roles = entry.get("roles", [TARGET])
    roles = [roles] if isinstance(roles, str) else roles
    if not roles or not set(roles) <= {SOURCE, TARGET}:
        raise ConfigError(f"{where}: roles must be a list of {SOURCE!r} and/or {TARGET!r}, got {roles!r}")
    classes = entry.get("classes", [])
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise ConfigError(f"{where}: classes must be a list of class names")
    for class_name in classes:
        if name_problem(class_name):
            raise ConfigError(f"{where}: class {class_name!r}: {name_problem(class_name)}")
    provenance = entry.get("provenance", [])
    provenance = [provenance] if isinstance(provenance, str) else provenance
    if not isinstance(provenance, list) or not all(isinstance(p, str) and p for p in provenance):
        raise ConfigError(f"{where}: provenance must be a list of image collection names, e.g. "
                          "[\"kermany2018-chest-xray\"]")
    group_pattern = entry.get("group_pattern", "")
    if group_pattern and fmt != "imagefolder":
        raise ConfigError(f"{where}: group_pattern is for the imagefolder format; a csv gives a group column")
    if not isinstance(group_pattern, str):
        raise ConfigError(f"{where}: group_pattern must be a regular expression (a string)")
    if group_pattern:
        try:
            compiled = re.compile(group_pattern)
        except re.error as error:
            raise ConfigError(f"{where}: group_pattern {group_pattern!r} is not a regular expression: "
                              f"{error}") from None
        if not compiled.groups:
            raise ConfigError(f"{where}: group_pattern {group_pattern!r} needs a group that captures the patient, "
                              r"e.g. '^(?P<group>\w+?)_\d+\.png$' or '^(\w+?)_'")
    window = _window(entry, where)
    return DatasetDeclaration(
        name=name, format=fmt, path=Path(entry["path"]).expanduser(),
        csv=Path(entry["csv"]) if fmt == "csv" else None, modality=modality, imaging=imaging, roles=frozenset(roles),
        classes=tuple(classes), description=str(entry.get("description", "")),
        homepage=str(entry.get("homepage", "")), provenance=frozenset(provenance), group_pattern=group_pattern,
        window=window,
    )


def _pair(value) -> bool:
    """Whether ``value`` is a list of two increasing numbers."""
    numeric = isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    return numeric and len(value) == 2 and value[0] < value[1]


def _window(entry: dict, where: str) -> Window | None:
    """A declaration's ``window``: [low, high], "dataset-percentiles" (with ``window_percentiles``) or none."""
    window, percentiles = entry.get("window"), entry.get("window_percentiles")
    if window == PercentileWindow.kind:
        if percentiles is None:
            return PercentileWindow()
        if not (_pair(percentiles) and 0 <= percentiles[0] and percentiles[1] <= 100):
            raise ConfigError(f"{where}: window_percentiles must be [low, high] with 0 <= low < high <= 100 (e.g. "
                              f"[0.5, 99.5]), got {percentiles!r}")
        return PercentileWindow(float(percentiles[0]), float(percentiles[1]))
    if percentiles is not None:
        raise ConfigError(f"{where}: window_percentiles goes with window = \"{PercentileWindow.kind}\"")
    if window is not None and not _pair(window):
        raise ConfigError(f"{where}: window must be [low, high] with low < high, the pixel values of 16-bit images "
                          f"mapped to black and white (e.g. window = [0, 4095]), or \"{PercentileWindow.kind}\" for "
                          f"the dataset's own percentiles, got {window!r}")
    return tuple(float(v) for v in window) if window is not None else None


def _source_declaration(path: Path, entry) -> SourceDeclaration:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise ConfigError(f"{path}: every declared source needs a name, got {entry!r}")
    name = entry["name"]
    where = f"{path}: source {name!r}"
    if not NAME.fullmatch(name) or name in RESERVED_SOURCES or len(name) > MAX_LENGTH:
        raise ConfigError(f"{where}: a name may hold letters, digits, '_', '.' and '-' only (it is used in node ids), "
                          f"at most {MAX_LENGTH} of them, and may not be {', '.join(RESERVED_SOURCES)}")
    unknown = set(entry) - _SOURCE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: "
                          f"{', '.join(sorted(_SOURCE_KEYS))}")
    model_args = _model_args(f"{where}: model_args", entry.get("model_args", {}))
    if "timm" in entry:
        extra = set(entry) - _TIMM_SOURCE_KEYS
        if extra or not isinstance(entry["timm"], str) or not entry["timm"]:
            raise ConfigError(f"{where}: a timm source gives timm = \"MODEL.TAG\" and optionally model_args and "
                              f"description{'; drop ' + ', '.join(sorted(extra)) if extra else ''}")
        return SourceDeclaration(name=name, backbone=entry["timm"].split(".")[0], weights=None,
                                 description=str(entry.get("description", "")), model_args=model_args,
                                 timm=entry["timm"])
    for key, what in (("backbone", "a timm model name, e.g. \"resnet50\""),
                      ("weights", "the weights file (relative to the config file, or absolute)")):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise ConfigError(f"{where}: give {key}, {what}")
    prefix = entry.get("prefix", "")
    if not isinstance(prefix, str):
        raise ConfigError(f"{where}: prefix must be a string, e.g. \"model.backbone.\"")
    named_input = entry.get("input", "")
    if named_input and (named_input not in SOURCE_INPUTS or "mean" in entry or "std" in entry):
        raise ConfigError(f"{where}: input must be one of {', '.join(SOURCE_INPUTS)} (\"caffe\": BGR, 0-255, the "
                          f"ImageNet mean subtracted, as Keras' VGG16 weights expect), and not given with mean or "
                          f"std; got {named_input!r}")
    interpolation = entry.get("interpolation")
    if interpolation is not None and interpolation not in INTERPOLATIONS:
        raise ConfigError(f"{where}: interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}")
    return SourceDeclaration(
        name=name, backbone=entry["backbone"], weights=path.parent / Path(entry["weights"]).expanduser(),
        prefix=prefix, mean=_channels(where, entry, "mean"), std=_channels(where, entry, "std"),
        interpolation=interpolation, description=str(entry.get("description", "")), model_args=model_args,
        input=named_input,
    )


def _model_args(where: str, value) -> tuple[tuple[str, object], ...]:
    """A ``model_args`` table as sorted pairs; ConfigError for what timm.create_model cannot be given here."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table of keyword arguments of timm.create_model, e.g. "
                          "model_args = {pad_type = \"same\"}")
    try:
        check_model_args(value, where)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    return model_args_pairs(value)


def _channels(where: str, entry: dict, key: str) -> tuple[float, float, float] | None:
    """An optional per-channel (R, G, B) value list; a std must be positive."""
    value = entry.get(key)
    if value is None:
        return None
    numeric = isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    if not numeric or len(value) != 3 or (key == "std" and min(value) <= 0):
        rule = "three positive numbers" if key == "std" else "three numbers"
        raise ConfigError(f"{where}: {key} must be {rule} (R, G, B, for pixels in 0-1), e.g. "
                          f"{key} = [0.485, 0.456, 0.406], got {value!r}")
    return tuple(float(v) for v in value)
