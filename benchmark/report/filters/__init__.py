"""The filter analysis: filter images by activation maximisation, of every model a run folder has; their taxonomy
(complex, direction, colour, noise); the taxonomy against transfer, and its figures. The ``filters`` and
``taxonomy`` visualisers draw them.

Plugins reach it as ``benchmark.filter_analysis`` (this package), by the names below; each is imported from its
module on first use, so that asking for one name does not load the others' torch, scipy or matplotlib.
"""

from __future__ import annotations

import importlib

_MODULES = {
    "filtersets": ("ModelFilters", "model_filters", "filter_pairs"),
    "taxonomy": ("CLASSES", "STRUCTURAL", "classify_many"),
    "taxonomyfigures": ("share_bars", "share_scatter"),
    "transfer": ("class_shares", "structural_share", "spearman", "filter_change"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    """One of :data:`__all__`, imported from its module the first time it is asked for."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
