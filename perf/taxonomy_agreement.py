"""How well the automatic filter taxonomy agrees with a person's labels of the filter tiles.

    python perf/taxonomy_agreement.py [--fixtures tests/fixtures/filters]

Classifies every labelled tile (``labels.csv`` of the fixture folder, see
:mod:`benchmark.report.filtertiles`) and prints Cohen's kappa (four classes, and structural or not), the
accuracy, the confusion matrix (rows the person, columns the rule) and how many tiles each side put in each
class, overall and per drawing style when the tiles have several.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from benchmark.report.filtertiles import labelled_tiles
from benchmark.report.taxonomy import CLASSES, agreement, classify_many

DEFAULT_FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "filters"


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


if __name__ == "__main__":
    main()
