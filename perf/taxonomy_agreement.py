"""How well the automatic filter taxonomy agrees with a person's labels of the filter tiles.

    python perf/taxonomy_agreement.py [--fixtures tests/fixtures/filters]

Classifies every labelled tile (``labels.csv`` of the fixture folder, see
``tests/filtertiles.py``) and prints Cohen's kappa (four classes, and structural or not), the
accuracy, the confusion matrix (rows the person, columns the rule) and how many tiles each side put in each
class, overall and per drawing style when the tiles have several.

Beside each, the style-only baseline: a rule that never looks at the image and gives every tile its style's most
common hand label ("regularised -> complex, thesis -> noise" on the fixture). Within one style it is a constant,
so its kappa is 0 there; pooled it scores what the style alone tells. The kappa intervals are 95% bootstrap
percentiles (tiles resampled within their style, :data:`REPLICATES` times).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.metrics import cohen_kappa_score

from benchmark.report.filters.taxonomy import CLASSES, agreement, classify_many

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))  # the fixture's reader lives beside the fixture
from filtertiles import labelled_tiles  # noqa: E402

DEFAULT_FIXTURES = TESTS / "fixtures" / "filters"
REPLICATES = 2000


def style_only(human: list[str], styles: list[str]) -> list[str]:
    """The style-only baseline's labels: each tile gets the most common of ``human`` among tiles of its style."""
    common = {style: Counter(h for h, s in zip(human, styles, strict=True) if s == style).most_common(1)[0][0]
              for style in set(styles)}
    return [common[style] for style in styles]


def kappa_interval(human: list[str], machine: list[str], styles: list[str], baseline: list[str] | None = None,
                   replicates: int = REPLICATES, seed: int = 0) -> tuple[float, float]:
    """The 95% bootstrap interval of Cohen's kappa of ``machine`` against ``human`` (less the ``baseline``
    labels' kappa on the same resample, when given), tiles resampled within their style."""
    human, machine, styles = np.asarray(human), np.asarray(machine), np.asarray(styles)
    groups = [np.flatnonzero(styles == style) for style in sorted(set(styles.tolist()))]
    rng = np.random.default_rng(seed)
    values = []
    with warnings.catch_warnings():  # a resample of one label has no kappa (nan), left out of the percentiles
        warnings.simplefilter("ignore")
        for _ in range(replicates):
            drawn = np.concatenate([rng.choice(group, len(group)) for group in groups])
            value = cohen_kappa_score(human[drawn], machine[drawn])
            if baseline is not None:
                value -= cohen_kappa_score(human[drawn], np.asarray(baseline)[drawn])
            values.append(value)
    low, high = np.nanpercentile(values, [2.5, 97.5])
    return float(low), float(high)


def baseline_lines(human: list[str], machine: list[str], styles: list[str]) -> list[str]:
    """The rule against the style-only baseline, per style and pooled, as lines of text."""
    baseline = style_only(human, styles)
    lines = ["against the style-only baseline (" + ", ".join(
        f"{style} -> {label}" for style, label in sorted(set(zip(styles, baseline, strict=True)))) + "):"]
    for style in sorted(set(styles)):
        kept = [i for i, s in enumerate(styles) if s == style]
        h, m, b = ([values[i] for i in kept] for values in (human, machine, baseline))
        rule = agreement(h, m)
        low, high = kappa_interval(h, m, [style] * len(kept))
        lines.append(f"  {style}: rule kappa {_number(rule['kappa'])} [{low:.3f}, {high:.3f}], baseline kappa 0 (one "
                     f"label); accuracy rule {_number(rule['accuracy'])}, baseline {agreement(h, b)['accuracy']:.3f}")
    rule, base = agreement(human, machine), agreement(human, baseline)
    low, high = kappa_interval(human, machine, styles, baseline)
    lines.append(f"  pooled: rule kappa {_number(rule['kappa'])}, baseline kappa {_number(base['kappa'])}, difference "
                 f"[{low:+.3f}, {high:+.3f}]; accuracy rule {_number(rule['accuracy'])}, baseline "
                 f"{_number(base['accuracy'])}")
    return lines


def report(human: list[str], machine: list[str], title: str) -> str:
    """The agreement of ``machine`` with ``human`` labels as a few lines of text headed ``title``."""
    scores = agreement(human, machine)
    width = max(map(len, CLASSES)) + 2
    lines = [
        f"{title}: {scores['n']} tiles",
        f"  kappa {_number(scores['kappa'])}, structural kappa {_number(scores['structural_kappa'])}, "
        f"accuracy {_number(scores['accuracy'])}",
        "  confusion (rows: person, columns: rule)",
        "  " + " " * width + "".join(name.rjust(width) for name in CLASSES),
    ]
    lines += ["  " + name.ljust(width) + "".join(str(count).rjust(width) for count in row)
              for name, row in zip(CLASSES, scores["confusion"], strict=True)]
    people, rule = Counter(human), Counter(machine)
    lines.append("  per class (person / rule): " + ", ".join(f"{name} {people[name]}/{rule[name]}" for name in CLASSES))
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES, help="the labelled tiles' folder")
    args = parser.parse_args(argv)
    if not (args.fixtures / "labels.csv").exists():
        raise SystemExit(f"no labels: {args.fixtures / 'labels.csv'} does not exist")
    records = labelled_tiles(args.fixtures)
    machine = classify_many([record["image"] for record in records])
    human = [record["label"] for record in records]
    print(report(human, machine, "all tiles"))
    styles = sorted({record["style"] for record in records})
    if len(styles) > 1:
        for style in styles:
            kept = [i for i, record in enumerate(records) if record["style"] == style]
            print(report([human[i] for i in kept], [machine[i] for i in kept], f"style {style}"))
        print("\n".join(baseline_lines(human, machine, [record["style"] for record in records])))


if __name__ == "__main__":
    main()
