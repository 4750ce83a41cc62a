"""The taxonomy visualiser on a tiny run: every filter classed, shares drawn, fine-tuning's change measured."""

import csv

import numpy as np
import torch
from PIL import Image
from test_filters import _context, _tiny_run

import benchmark.report.filters.activationmax as activationmax
from benchmark.report.filters.filtersets import filter_pairs, model_filters
from benchmark.report.filters.taxonomy import classify_many
from benchmark.report.filters.transfer import filter_change
from tlbench_plugins.visualizers.taxonomy import TaxonomyVisualizer


def test_the_taxonomy_figures_agree_with_the_classes_and_weights(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(activationmax, "STEPS", 4)
    torch.set_num_threads(1)
    out = tmp_path / "runs"
    _tiny_run(cli, out, ("ft-svm",))  # keeps the fine-tuned model (--keep-models auto)
    ctx = _context(out)
    ctx.out_dir.mkdir()
    figures = TaxonomyVisualizer().render(ctx)
    assert [f.path.name for f in figures] == ["taxonomy-shares.png", "taxonomy-transfer.png", "taxonomy-change.png"]
    for figure in figures:
        pixels = np.asarray(Image.open(figure.path).convert("L"), dtype=float)
        assert pixels.std() > 10 and min(pixels.shape) > 200, figure.path.name
        assert figure.title and figure.caption

    models = model_filters(ctx)
    assert [m.kind for m in models] == ["source", "fine-tuned"]
    with open(ctx.out_dir / "taxonomy.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * (32 + 32 + 48)  # every channel of stages 1-3 of both models
    tuned = models[1]
    stage2 = [r["class"] for r in rows if r["model"] == tuned.key and r["stage"] == "2"]
    assert stage2 == classify_many(list(tuned.stages[1].images))

    # one source: a point per method that uses it, and no rank correlation (it needs 3 sources)
    transfer = figures[1].facts
    assert [p[0] for p in transfer["points"]] == ["tiny_src"]
    assert transfer["spearman"]["FT"]["rho"] is None and transfer["spearman"]["FT"]["n"] == 1
    (_, share, auc, method), = transfer["points"]
    assert f"tiny_src: {share:.0%} structural, {method} {auc:.3f}" in figures[1].caption

    ((before, after),) = filter_pairs(ctx)
    expected = filter_change(classify_many(list(before.stages[0].images)), classify_many(list(after.stages[0].images)),
                             before.stage_weights[1], after.stage_weights[1])
    change = figures[2].facts["change"]["tiny_src"]["1"]
    assert change["changed_share"] == expected["changed_share"] and change["models"] == 1
    assert change["relative_distance"] == expected["relative_distance"] > 0  # fine-tuning moved the weights
