"""A store written before the rows carried the preset's fields alone: its display column is dropped when opened."""

import json
import sqlite3
from types import SimpleNamespace

from benchmark.run.store import _ATTEMPTS_SCHEMA, _EXPERIMENTS_SCHEMA, Store


def _with_profile(statement: str) -> str:
    """The table as tlbench wrote it before: a NOT NULL profile column after seed."""
    return statement.replace("    seed INTEGER NOT NULL,\n", "    seed INTEGER NOT NULL,\n    profile TEXT NOT NULL,\n")


def _planned(seed: int):
    experiment = SimpleNamespace(node_id=f"t::none::scratch[seed={seed}]", target="t", source="none",
                                 method="scratch", seed=seed)
    return SimpleNamespace(experiment=experiment, config_hash=f"h{seed}", config=_config(seed), notes=None)


def _config(seed: int) -> dict:
    return {"target": {"dataset": "t", "task": "t"}, "source": None, "seed": seed}


def test_an_old_store_keeps_its_rows_and_takes_new_ones(tmp_path):
    db = sqlite3.connect(tmp_path / "tlbench.sqlite")
    for statement in (*_EXPERIMENTS_SCHEMA, *_ATTEMPTS_SCHEMA):
        db.execute(_with_profile(statement))
    db.execute("INSERT INTO experiments (config_hash, node_id, target, source, method, seed, profile, status, config, "
               "preset, metrics, finished_at) VALUES ('h2', 't::none::scratch[seed=2]', 't', 'none', 'scratch', 2, "
               "'cpu-quick · test_resnet @ 32px', 'passed', ?, ?, '{\"auc\": 0.5, \"n_test\": 10}', '2026-01-01')",
               (json.dumps(_config(2)), json.dumps({"name": "cpu-quick", "backbone": "test_resnet"})))
    db.commit()
    db.close()
    store = Store(tmp_path)
    (old,) = store.rows()
    assert old["config_hash"] == "h2" and old["preset"]["name"] == "cpu-quick" and "profile" not in old
    assert store.start(_planned(5), "cpu", {"name": "cpu-quick"})
    store.finish("h5", "passed", metrics={"auc": 0.5, "n_test": 10})
    assert {r["config_hash"]: r["status"] for r in store.rows()} == {"h2": "passed", "h5": "passed"}
    for table in ("experiments", "attempts"):
        assert "profile" not in {row[1] for row in store.db.execute(f"PRAGMA table_info({table})")}
