"""The README, run: its Python session, the outputs it shows, its SQL and catalog
snippets, and every command and option it names, against the real CLI and the example.

A README edit or a program change that makes them disagree fails here. Conventions the
README follows for that (keep them when adding examples):

- a fenced block with no language whose first line is ``$ meterbill ...`` shows that
  command's exact standard output in the demo's workspace;
- a ``pycon`` block is a doctest, run in an empty folder;
- every ``meterbill ...`` command line (in ``sh`` blocks and inline code) and every
  ``--option`` anywhere names a real command and option, with real choices.
"""

from __future__ import annotations

import doctest
import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from meterbill import Workspace
from meterbill.catalog import parse_catalog
from meterbill.cli.main import cli
from tests.conftest import EXAMPLE, ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
_FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```$", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    """The README's fenced blocks of ``language`` ("" for none), dedented."""
    found = []
    for match in _FENCE.finditer(README):
        indent, lang, body = match.groups()
        if lang == language:
            found.append("".join(line[len(indent) :] + "\n" for line in body.splitlines()))
    return found


def command_lines() -> list[str]:
    """Every ``meterbill ...`` command line: sh blocks, ``$`` lines and inline code."""
    lines = [
        line
        for block in blocks("sh") + blocks("")
        for line in (raw.removeprefix("$ ") for raw in block.splitlines())
        if line.startswith("meterbill ")
    ]
    lines += re.findall(r"`(meterbill [^`]+)`", README)
    return [re.sub(r"\s+#.*$", "", line).replace("\\|", "|") for line in lines]


def _option_names(command: click.Command) -> set[str]:
    names = {"-h", "--help"}
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(param.opts + param.secondary_opts)
    return names


def _option(command: click.Command, name: str) -> click.Option:
    return next(
        p
        for p in command.params
        if isinstance(p, click.Option) and name in p.opts + p.secondary_opts
    )


def _check_options(command: click.Command, path: str, tokens: list[str], line: str) -> None:
    """Each option token names an option of ``command``; listed values are its choices."""
    for index, token in enumerate(tokens):
        if not token.startswith("-"):
            continue
        name = token.split("=")[0]
        assert name in _option_names(command), f"README: {line!r}: {path} has no {name}"
        option = _option(command, name) if name not in ("-h", "--help") else None
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if option is None or not isinstance(option.type, click.Choice):
            continue
        if following and not following.startswith("-") and not following.isupper():
            values = re.split(r"[|,]", following)
            unknown = set(values) - set(option.type.choices)
            assert not unknown, f"README: {line!r}: {path} {name} has no {sorted(unknown)}"


def resolve(line: str) -> None:
    """Walk ``meterbill A B ... --options`` down the click tree, checking every option."""
    tokens = [t.strip("[]").removesuffix("...") for t in line.split()[1:]]
    tokens = [t for t in tokens if t]
    command: click.Command = cli
    path = "meterbill"
    while tokens and isinstance(command, click.Group):
        token = tokens[0]
        if token.startswith("-"):  # options of the group itself: meterbill -w DIR COMMAND
            _check_options(command, path, tokens[:1], line)
            takes_value = token in ("-w", "--workspace")
            tokens = tokens[2:] if takes_value else tokens[1:]
            continue
        if token not in command.commands:
            assert token.isupper(), f"README: {line!r}: {path} has no command {token!r}"
            return  # a placeholder (COMMAND)
        command, path, tokens = command.commands[token], f"{path} {token}", tokens[1:]
    _check_options(command, path, tokens, line)


def test_every_command_line_in_the_readme_is_real() -> None:
    lines = command_lines()
    assert len(lines) > 40  # the parse found the README's commands
    for line in lines:
        resolve(line)


def all_commands(
    group: click.Group, path: tuple[str, ...] = ()
) -> dict[tuple[str, ...], click.Command]:
    """Every command and group under ``group``, by its path of names."""
    found: dict[tuple[str, ...], click.Command] = {path: group}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found |= all_commands(command, (*path, name))
        else:
            found[(*path, name)] = command
    return found


def test_every_option_the_readme_mentions_exists() -> None:
    known = set().union(*(_option_names(c) for c in all_commands(cli).values()))
    mentioned = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", README))
    assert mentioned - known == set()


def test_every_command_has_help() -> None:
    for path in all_commands(cli):
        result = CliRunner().invoke(cli, [*path, "--help"], prog_name="meterbill")
        assert result.exit_code == 0, (path, result.output)
        assert result.stdout.startswith(f"Usage: meterbill {' '.join(path)}".rstrip()), path


@pytest.fixture(scope="module")
def demo_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("readme") / "demo"


def test_the_outputs_the_readme_shows(demo_workspace: Path) -> None:
    """``$ meterbill ...`` blocks: the command's standard output, exactly (right-trimmed).

    ``meterbill demo`` writes the demo's workspace; the other commands run in it.
    """
    shown = [b for b in blocks("") if b.startswith("$ meterbill ")]
    assert [b.splitlines()[0].split()[:3] for b in shown][:1] == [["$", "meterbill", "demo"]]
    for block in shown:
        first, *expected = block.splitlines()
        args = shlex.split(first.removeprefix("$ meterbill "), comments=True)
        args += [str(demo_workspace)] if args == ["demo"] else ["-w", str(demo_workspace)]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, (first, result.stderr)
        got = [line.rstrip() for line in result.stdout.splitlines()]
        assert got == [line.rstrip() for line in expected], first


def test_the_python_session_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (session,) = blocks("pycon")
    monkeypatch.chdir(tmp_path)
    test = doctest.DocTestParser().get_doctest(session, {}, "README.md pycon", "README.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    output: list[str] = []
    runner.run(test, out=output.append)
    assert runner.failures == 0, "".join(output)
    assert runner.tries >= 10


def test_the_sql_examples_run(tmp_path: Path) -> None:
    """The README's SQL, on the example billed and finalized (INV-000001): the watermark
    query finds the 2,450 October events that invoice saw."""
    ws = Workspace.init(tmp_path / "o1", example="openai-o1")
    ws.invoice_run(through="2026-11-01", finalize=True)
    (watermark,) = blocks("sql")
    assert ws.sql(watermark).height == 2450
    queries = re.findall(r'meterbill sql "([^"]+)"', README)
    assert len(queries) >= 2
    for query in queries:
        ws.sql(query)  # runs


def test_the_catalog_snippet_is_a_catalog() -> None:
    """The first ``toml`` block (a meter and a plan priced by it) loads on its own."""
    snippet = next(b for b in blocks("toml") if "[meters." in b)
    catalog = parse_catalog(snippet)
    assert list(catalog.meters) == ["o1_input_tokens"]
    assert list(catalog.plans) == ["openai_o1"]


def test_the_bad_catalog_message(tmp_path: Path) -> None:
    """The README's refused catalog: the O1 catalog, its second price's package_size = 0
    and its third price's meter misspelt."""
    (shown,) = [b for b in blocks("") if b.startswith("meterbill: error: ")]
    ws = tmp_path / "acme"
    Workspace.init(ws)
    text = (EXAMPLE / "catalog.toml").read_text()
    prices = text.split("[[plans.openai_o1.prices]]")
    prices[2] = prices[2].replace("package_size = 1000000", "package_size = 0")
    prices[3] = prices[3].replace('"o1_cached_input_tokens"', '"o1_outptu"')
    (ws / "catalog.toml").write_text("[[plans.openai_o1.prices]]".join(prices))
    result = CliRunner().invoke(cli, ["catalog", "check", "-w", str(ws)])
    assert result.exit_code == 3
    path = str(ws / "catalog.toml")
    assert result.stderr.replace(path, "/home/me/acme/catalog.toml") == shown


def test_the_example_data_matches_the_readme() -> None:
    """ "one customer, one subscription from 2026-10-01, and 2,550 llm.usage events"."""
    assert "2,550 `llm.usage` events" in README
    events = (EXAMPLE / "events.jsonl").read_text().splitlines()
    assert len(events) == 2550 and all('"event_name": "llm.usage"' in e for e in events)
    assert len((EXAMPLE / "customers.csv").read_text().splitlines()) == 2
    subscriptions = (EXAMPLE / "subscriptions.csv").read_text().splitlines()
    assert len(subscriptions) == 2 and ",2026-10-01," in subscriptions[1]
