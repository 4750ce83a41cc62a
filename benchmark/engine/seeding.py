"""Seeding torch's process-wide generator safely when experiments run in threads side by side.

The one idiom: :func:`seeded` around code that draws from the global generator (model initialisation);
an explicit ``torch.Generator().manual_seed(seed)`` or ``np.random.default_rng(seed)`` for a stream of its
own; :func:`reseed` only where the global draws last too long to hold the lock (dropout while training).
"""

from __future__ import annotations

import contextlib
import threading

import torch

_GLOBAL_RNG = threading.RLock()


@contextlib.contextmanager
def seeded(seed: int):
    """Seed torch's global generator and keep it to this block: other threads' :func:`seeded` and
    :func:`reseed` wait, so a model initialised here is the same whether experiments run alone or not."""
    with _GLOBAL_RNG:
        torch.manual_seed(seed)
        yield


def reseed(seed: int) -> None:
    """Seed torch's global generator, waiting for any :func:`seeded` block of another thread to end."""
    with _GLOBAL_RNG:
        torch.manual_seed(seed)
