"""Every page of docs/ and the README: config blocks load, `tlbench` command lines parse against the CLI, links
resolve, the README stays a front door, and the figure list and the hook count agree with the code.

A fence's info string may say ``no-run`` (a fragment, not a whole config) or ``no-check`` (command lines for a
CLI other than this checkout's); such blocks are skipped."""

import json
import re
import shlex
from pathlib import Path

import click
import pytest

from benchmark import hookspecs
from benchmark.cli import main
from benchmark.registry.config import load_config, tomllib

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")
CONFIG_KEYS = {"data_root", "cache_dir", "datasets", "sources", "launcher", "model_args"}
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("tlbench_register_"))
OWN_TESTS = {"plugins.md": "tests/test_docs.py", "api.md": "tests/test_docs_api.py"}  # pages run by their own test
NUMBERS = {"five": 5, "six": 6, "seven": 7, "eight": 8}


def blocks(language: str) -> list[tuple[str, str]]:
    """(where, code) of every block of ``language`` in the README and docs/ whose info string is plain."""
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in FENCE.finditer(text):
            if match.group(1) == language and not match.group(2).strip():
                found.append((f"{page.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}", match.group(3)))
    return found


def command_lines(code: str) -> list[list[str]]:
    """The `tlbench` invocations of a shell block: continuations joined, comments dropped, split at && and ;."""
    commands = []
    for line in code.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        command: list[str] = []
        for word in [*words, ";"]:
            if word in ("&&", ";", "||"):
                while command and re.fullmatch(r"[A-Z_]+=\S*", command[0]):  # VAR=value before the command
                    command.pop(0)
                if command and command[0] == "tlbench":
                    commands.append(command[1:])
                command = []
            else:
                command.append(word)
    return commands


def parse(args: list[str]) -> click.Command:
    """The command that ``tlbench ARGS`` runs, its options and arguments parsed (nothing invoked)."""
    command, name, context = main, "tlbench", None
    while True:
        context = command.make_context(name, list(args), parent=context)
        protected = getattr(context, "_protected_args", None)  # click >= 8.2; before it, protected_args
        protected = context.protected_args if protected is None else protected
        rest = [*protected, *context.args] if isinstance(command, click.Group) else []
        if not rest:
            return command
        name, command, args = command.resolve_command(context, rest)


def test_the_python_blocks_of_every_other_page_run(tmp_path, monkeypatch):
    """The pages with a test of their own run there; any other page's python blocks run here, each page as one
    module."""
    assert all((ROOT / test).is_file() for test in OWN_TESTS.values())
    monkeypatch.chdir(tmp_path)
    for page in PAGES:
        if page.name in OWN_TESTS:
            continue
        text, namespace = page.read_text(), {"__name__": f"docs_{page.stem}"}
        for match in FENCE.finditer(text):
            if match.group(1) == "python" and "no-run" not in match.group(2):
                line = text.count("\n", 0, match.start(3)) + 1
                exec(compile("\n" * (line - 1) + match.group(3), str(page), "exec"), namespace)


CONFIGS = [(where, code) for where, code in blocks("toml") if set(tomllib.loads(code)) & CONFIG_KEYS]


@pytest.mark.parametrize(("where", "code"), CONFIGS, ids=[where for where, _ in CONFIGS])
def test_every_config_block_is_a_config_that_loads(where, code, tmp_path):
    (tmp_path / "tlbench.toml").write_text(code)
    config = load_config(tmp_path)
    table = tomllib.loads(code)
    assert {d.name for d in config.datasets} == set(table.get("datasets", {}))


def test_every_toml_block_parses():
    parsed = [tomllib.loads(code) for _, code in blocks("toml")]
    assert len(parsed) >= len(CONFIGS) >= 4  # the datasets, weights and inputs pages' configs at least


SHELL = [(where, args) for where, code in blocks("bash") for args in command_lines(code)]


@pytest.mark.parametrize(("where", "args"), SHELL, ids=[f"{w} {' '.join(a)[:40]}" for w, a in SHELL])
def test_every_tlbench_command_line_parses_against_the_cli(where, args):
    try:
        parse(args)
    except click.ClickException as error:
        pytest.fail(f"{where}: tlbench {shlex.join(args)}: {error.format_message()}")


def test_a_command_line_with_an_unknown_option_or_command_fails_the_check():
    assert command_lines("CUDA_VISIBLE_DEVICES=1 tlbench run --all -q  # c\npip x && tlbench show \\\n --format md") \
        == [["run", "--all", "-q"], ["show", "--format", "md"]]
    for args in (["run", "--no-such-option"], ["no-such-command"]):
        with pytest.raises(click.ClickException):
            parse(args)


def test_every_relative_link_of_the_readme_and_docs_resolves():
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            path = target.split("#")[0]
            if path:
                assert (page.parent / path).exists(), f"{page.relative_to(ROOT)} links to {target}"


def test_no_page_points_at_a_folder_beside_the_checkout_or_a_file_outside_it():
    for page in PAGES:
        text = page.read_text()
        for outside in ("../shared", "THESIS-PROTOCOL", "DESIGN.md"):
            assert outside not in text, f"{page.relative_to(ROOT)} cites {outside}"


def test_the_readme_is_a_front_door_whose_test_command_is_what_ci_runs():
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    commands = [code.strip() for where, code in blocks("bash") if where.startswith("README.md")]
    test_command = next(c for c in commands if "pytest" in c)
    assert "\n" not in test_command and "pip install -e '.[test]' && pytest -q && ruff check ." in test_command
    assert test_command.replace("pip install -e", "pip install -q -e") in (ROOT / ".ci" / "run").read_text()
    run_command = next(c for c in commands if c.endswith("tlbench run --all"))
    assert "\n" not in run_command and "pip install ." in run_command


def test_the_plugin_guide_names_every_hook_and_counts_them_right():
    text = (ROOT / "docs" / "plugins.md").read_text()
    (count,) = re.findall(r"the whole contract: (\w+) hooks", text)
    assert NUMBERS[count] == len(HOOKS)
    assert sorted(re.findall(r"^\| `(tlbench_register_\w+)\(register\)` \|", text, re.M)) == HOOKS


def test_the_figure_table_lists_exactly_the_registered_visualizers(cli):
    text = (ROOT / "docs" / "report.md").read_text()
    section = text.split("## The figures", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `([\w-]+)` \|", section, re.M)
    registered = [v["name"] for v in json.loads(cli("list", "--json").output)["visualizers"]]
    assert sorted(listed) == sorted(registered)


def test_the_plugin_test_steps_install_the_test_extra():
    for where, code in blocks("bash"):
        for line in code.splitlines():
            if re.search(r"pip install -e \S+ && pytest", line):
                assert "[test]" in line, f"{where}: {line}"


def test_every_file_of_the_repository_a_page_names_exists():
    for page in PAGES:
        for path in re.findall(r"`((?:benchmark|perf|tests|plugins|examples|docs)/[\w./-]+)`", page.read_text()):
            assert (ROOT / path).exists(), f"{page.relative_to(ROOT)} names {path}, which is not in the repository"
