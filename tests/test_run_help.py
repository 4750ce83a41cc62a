"""`tlbench run --help` lists its options in four sections: selection, protocol, execution and output."""

import re

import click
import pytest

from benchmark.cli.sections import SectionedCommand

EXPECTED = {
    "Selection": ["-p", "--all", "--dataset", "--source", "--method", "--seeds", "-k", "--collect-only", "--verbose"],
    "Protocol": ["--preset", "--backbone", "--image-size", "--max-epochs", "--batch-size", "--official-splits",
                 "--model-arg", "--source-training", "--precision", "--imagenet-weights", "--strict",
                 "--max-unreadable", "--audit"],
    "Execution": ["--device", "--data-root", "--cache-dir", "--online", "--compile", "--svm", "--threads",
                  "--jobs-per-gpu", "--launcher", "--launcher-option", "--retries", "--cpus-per-job", "--rerun",
                  "--exitfirst"],
    "Output": ["--out", "--keep-models", "--quiet"],
    "Other options": ["--help"],
}


def sections(text: str) -> dict[str, list[str]]:
    """Each section's options, by the last name on each option's line (``-d, --dataset TEXT`` is ``--dataset``)."""
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if re.fullmatch(r"[A-Z][A-Za-z ]*:", line):
            current = found.setdefault(line[:-1], [])
        elif current is not None and line.startswith("  -"):
            names = re.findall(r"(?:^|[ ,/])(--?[a-z][a-z-]*)", line.split("  ")[1])
            current.append([name for name in names if not name.startswith("--no-")][-1])
    return found


def test_run_help_shows_each_option_once_in_its_section(cli):
    result = cli("run", "--help")
    assert result.exit_code == 0, result.output
    assert sections(result.output) == EXPECTED


def test_a_section_naming_no_parameter_is_an_error_when_the_command_is_built():
    with pytest.raises(ValueError, match="help sections of demo: no parameter colour"):
        SectionedCommand("demo", params=[click.Option(["--size"])], sections={"Look": ("size", "colour")})
