"""Shared trainings: the network that several methods score in their own ways (:attr:`Method.shared_training`),
trained once per what determines its weights and kept in the cache folder for the jobs that score it.

A training's key is the hash of its identity: the shared training's name, the target (dataset, version, task,
data fingerprint), the source's identity (a pretrained source's weights digest; for a source tlbench trains, what
its training is given: dataset, data fingerprint, settings, seed), the seed, the preset's training settings (none
of the scoring ones) and the runtime (device type, precision). Its weights (``trained/<key>.pt``) and record
(``trained/<key>.json``: the training history, the facts of how it ran, its seconds) are written as every cache
file is (a temporary file renamed into place, the record first), by one process at a time (a lock file beside
them): another that needs the same training meanwhile waits, then finds it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import Callable
from pathlib import Path

from benchmark.files.cachefiles import write_atomically
from benchmark.files.locks import exclusive
from benchmark.hashing import config_hash
from benchmark.settings import RunSettings

log = logging.getLogger(__name__)

TRAINED_DIR = "trained"
# bump when the harness's training of a shared network changes what it trains
TRAINING_VERSION = "1"


def training_identity(config: dict, shared_training: str, settings: RunSettings) -> dict:
    """What determines the weights of ``shared_training``'s network for the experiment of ``config`` (its
    config as planned): everything in it but the method and the scoring settings."""
    return {"training": shared_training, "version": TRAINING_VERSION, "target": config["target"],
            "source": config["source"], "seed": config["seed"], "preset": settings.preset.training_fields(),
            "runtime": config["runtime"]}


def training_key(config: dict, shared_training: str, settings: RunSettings) -> str:
    return config_hash(training_identity(config, shared_training, settings))


class TrainedNetworks:
    """The cache folder's shared trainings. A network whose files cannot be written (a read-only or full cache)
    is kept in this process's memory for the run (:meth:`load` finds it there)."""

    def __init__(self, cache_dir: Path):
        self.folder = Path(cache_dir) / TRAINED_DIR
        self._unsaved: dict[str, tuple[dict, dict]] = {}
        # key -> (size, mtime) of the file found whole: a network (528 MB for VGG16) is read through once per process
        self._checked: dict[str, tuple[int, int]] = {}

    def weights_path(self, key: str) -> Path:
        return self.folder / f"{key}.pt"

    def has(self, key: str) -> bool:
        return key in self._unsaved or self._usable(key)

    def ensure(self, key: str, train: Callable[[], tuple[dict, dict]],
               outdated: Callable[[dict], str] | None = None) -> bool:
        """Make sure training ``key`` is cached: unless it already is, ``train()`` (the network's state dict and its
        record: a JSON object) runs under the training's lock. ``outdated(record)`` says why a cached training no
        longer holds (its source model was trained again since), or '': one that does not is trained again.
        Returns whether ``train`` ran here."""
        if self.has(key) and not self._outdated(key, outdated):
            return False
        path = self.weights_path(key)
        waiting = functools.partial(log.info, "training %s: waiting for another process training it", key[:12])
        with contextlib.ExitStack() as held:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                held.enter_context(exclusive(path.with_suffix(".lock"), on_wait=waiting))
            except OSError as error:  # an unwritable cache: no lock to share, nor a file to share the model by
                log.warning("training %s: cannot use the cache folder %s (%s)", key[:12], self.folder, error)
            if self.has(key):
                if not (why := self._outdated(key, outdated)):
                    return False
                log.warning("training %s: cached network %s %s; training it again", key[:12], path, why)
                self._unsaved.pop(key, None)
            state, record = train()
            self._write(key, state, record)
            return True

    def load(self, key: str) -> tuple[dict, dict]:
        """Training ``key``'s weights (a state dict, on the CPU) and record; FileNotFoundError when it is not
        cached."""
        import torch  # where a network is read or written: planning a run never needs it

        if key in self._unsaved:
            return self._unsaved[key]
        path = self.weights_path(key)
        if not path.exists():
            raise FileNotFoundError(f"trained network {path} is missing: its training job must run first")
        record = json.loads(path.with_suffix(".json").read_text())
        return torch.load(path, map_location="cpu", weights_only=True), record

    def _outdated(self, key: str, outdated: Callable[[dict], str] | None) -> str:
        if outdated is None:
            return ""
        if key in self._unsaved:
            return outdated(self._unsaved[key][1])
        try:
            return outdated(json.loads(self.weights_path(key).with_suffix(".json").read_text()))
        except (OSError, ValueError) as error:  # removed or torn meanwhile: the lock's holder trains it again
            return f"has no readable record ({error})"

    def _usable(self, key: str) -> bool:
        """Whether training ``key``'s files can be read; damaged ones are named in a warning and removed, to be
        trained again."""
        import torch  # where a network is read or written: planning a run never needs it

        path = self.weights_path(key)
        try:
            stat = path.stat()
        except OSError:
            return False
        if self._checked.get(key) == (stat.st_size, stat.st_mtime_ns):
            return True
        try:
            json.loads(path.with_suffix(".json").read_text())
            torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # a torn or damaged file fails in many ways (zip, pickle, EOF, JSON)
            log.warning("training %s: cached network %s is damaged (%s: %s); training it again", key[:12], path,
                        type(error).__name__, error)
            path.unlink(missing_ok=True)
            return False
        self._checked[key] = (stat.st_size, stat.st_mtime_ns)
        return True

    def _write(self, key: str, state: dict, record: dict) -> None:
        import torch  # where a network is read or written: planning a run never needs it

        state = {name: tensor.detach().cpu() for name, tensor in state.items()}
        path = self.weights_path(key)
        try:
            with write_atomically(path, sum(t.numel() * t.element_size() for t in state.values())) as partial:
                with write_atomically(path.with_suffix(".json")) as record_partial:  # published first
                    record_partial.write_text(json.dumps(record, indent=1))
                torch.save(state, partial)
        except OSError as error:  # the network is right, only not kept for other processes and later runs
            log.warning("training %s: could not write its network to %s (%s); keeping it in memory for this run",
                        key[:12], path, error)
            self._unsaved[key] = (state, record)
