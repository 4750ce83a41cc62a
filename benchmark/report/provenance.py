"""Where a report's numbers come from, read from the store's rows: configurations, software versions,
devices, data and weights digests, when the run ran, how many experiments passed or failed, and the store."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

VERSIONS = ("python", "torch", "timm", "scikit-learn", "numpy", "tlbench")


@dataclass
class Provenance:
    """``configurations``: each distinct preset (its fields) with its runtime; ``versions`` and ``digests``:
    each name's distinct values, sorted; ``period``: first start and last finish (ISO, None when unknown)."""

    store: Path
    configurations: list[dict] = field(default_factory=list)
    versions: dict[str, list[str]] = field(default_factory=dict)
    devices: list[str] = field(default_factory=list)
    digests: dict[str, list[str]] = field(default_factory=dict)
    period: tuple[str | None, str | None] = (None, None)
    counts: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) pairs, in the order a report shows them; the configurations are shown apart."""
        out = [("Store", str(self.store)),
               ("Experiments", ", ".join(f"{n} {status}" for status, n in sorted(self.counts.items())) or "none"),
               ("Run period", f"{self.period[0] or '?'} to {self.period[1] or '?'}"),
               ("Devices", ", ".join(self.devices) or "unknown")]
        out += [(f"Version of {name}", ", ".join(values)) for name, values in self.versions.items()]
        out += [(f"Digest of {name}", ", ".join(values)) for name, values in self.digests.items()]
        return out

    def configuration_texts(self) -> list[str]:
        """Each configuration as indented JSON."""
        return [json.dumps(c, indent=1, sort_keys=True) for c in self.configurations]


def _source_digests(name: str, source: dict) -> dict[str, str]:
    """A source's data digest (a dataset source) and weights digests (pretrained weights), by label."""
    found = {}
    if source.get("data"):
        found[f"{name} (source data)"] = source["data"]
    for key, value in sorted(source.items()):
        if key.endswith("sha256") and value:
            found[f"{name} (source weights)"] = value
    return found


def provenance(rows: list[dict], store: Path) -> Provenance:
    """The provenance of every row of the store (passed or not)."""
    configurations, versions, digests = [], {name: set() for name in VERSIONS}, {}
    devices, starts, finishes = set(), [], []
    for row in rows:
        config = row.get("config") or {}
        described = {"preset": row.get("preset") or config.get("preset"), "runtime": config.get("runtime")}
        if described not in configurations:
            configurations.append(described)
        for name in VERSIONS:
            value = (row.get("versions") or {}).get(name)
            if value is not None:
                versions[name].add(str(value))
        if row.get("device"):
            devices.add(row["device"])
        target = config.get("target") or {}
        if target.get("data"):
            digests.setdefault(f"{target.get('dataset', row['target'])} (target data)", set()).add(target["data"])
        if isinstance(config.get("source"), dict):
            for label, value in _source_digests(row["source"], config["source"]).items():
                digests.setdefault(label, set()).add(value)
        starts += [row["started_at"]] if row.get("started_at") else []
        finishes += [row["finished_at"]] if row.get("finished_at") else []
    return Provenance(
        store, configurations, {name: sorted(values) for name, values in versions.items() if values},
        sorted(devices), {label: sorted(values) for label, values in sorted(digests.items())},
        (min(starts, default=None), max(finishes, default=None)), dict(Counter(row["status"] for row in rows)))
