"""An mkdocs hook: the CLI reference, generated from the ``sqlkv`` parsers at build time.

``docs/reference/cli.md`` holds ``<!-- cli-reference -->``; the hook replaces it with
every command of the command table (``sqlkv/cli/_table.py``) in its order: name,
aliases, help, usage, and each argument and flag with its default and choices,
read from the argparse parser that ``sqlkv`` itself builds, and the exit statuses
from ``sqlkv.cli.EXIT_STATUS`` with the error classes of each kind. Nothing is
written by hand, so it cannot drift from the command line.
"""

from __future__ import annotations

import argparse
import inspect
import textwrap
from typing import Any

import sqlkv
from sqlkv import cli
from sqlkv.cli._table import COMMANDS, Command

MARKER = "<!-- cli-reference -->"
_GLOBAL = ("--db", "--version", "-h")
_ACCESS = {
    "read": "Reads the store (opened read-only when it cannot be written); the store must exist.",
    "write": "Writes the store; the store must exist.",
    "create": "Writes the store, and creates it if it does not exist.",
}


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _name(action: argparse.Action) -> str:
    if action.option_strings:
        flags = ", ".join(f"`{flag}`" for flag in action.option_strings)
        return flags if action.nargs == 0 else f"{flags} `{action.metavar or action.dest.upper()}`"
    name = str(action.metavar or action.dest.upper())
    return {"?": f"`[{name}]`", "*": f"`[{name} ...]`"}.get(str(action.nargs), f"`{name}`")


def _default(action: argparse.Action) -> str:
    if action.nargs == 0 or action.default is None or action.default == argparse.SUPPRESS:
        return ""
    return f"`{action.default}`"


def _arguments(parser: argparse.ArgumentParser, *, include_global: bool) -> list[str]:
    rows = ["| argument | default | description |", "| --- | --- | --- |"]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if not include_global and any(flag in _GLOBAL for flag in action.option_strings):
            continue
        text = action.help or ""
        if action.choices:
            text += f" (one of: {', '.join(f'`{choice}`' for choice in action.choices)})"
        if isinstance(action, argparse._AppendAction) and "repeatable" not in text:
            text += " (repeatable)"
        rows.append(f"| {_name(action)} | {_default(action)} | {_cell(text)} |")
    return rows if len(rows) > 2 else []


def _usage(parser: argparse.ArgumentParser) -> str:
    usage = " ".join(parser.format_usage().split()).removeprefix("usage: ")
    return textwrap.fill(usage, 96, subsequent_indent="    ", break_long_words=False, break_on_hyphens=False)


def _command(command: Command, parser: argparse.ArgumentParser) -> list[str]:
    prefix = "sqlkv kv" if command.kv else "sqlkv"
    lines = [
        f"### `{prefix} {command.name}` {{ #{command.name} }}",
        "",
        f"{command.help[0].upper()}{command.help[1:]}.",
    ]
    if command.aliases:
        lines += ["", "Aliases: " + ", ".join(f"`{alias}`" for alias in command.aliases) + "."]
    if command.kv:
        lines += ["", f"Also `sqlkv {command.name}` (the `kv` may be left out)."]
    lines += ["", _ACCESS[command.access]]
    if command.until_stopped:
        lines += ["", "Runs until Ctrl-C or SIGTERM, and then closes the store cleanly."]
    lines += ["", "```text", _usage(parser), "```", ""]
    lines += _arguments(parser, include_global=False)
    return [*lines, ""]


def _error_classes() -> dict[sqlkv.ErrorKind, list[str]]:
    kinds: dict[sqlkv.ErrorKind, list[str]] = {}
    for name in sqlkv.__all__:
        value = getattr(sqlkv, name)
        if inspect.isclass(value) and issubclass(value, sqlkv.SqlkvError):
            kinds.setdefault(value.kind, []).append(name)
    return kinds


def _exit_statuses() -> list[str]:
    classes = _error_classes()
    statuses: dict[int, list[sqlkv.ErrorKind]] = {}
    for kind, status in cli.EXIT_STATUS.items():
        statuses.setdefault(status, []).append(kind)
    rows = ["| status | error kinds (`error.kind`) | error classes |", "| --- | --- | --- |", "| 0 | success | |"]
    for status in sorted(statuses):
        kinds = ", ".join(f"`{kind.name}` ({kind.value})" for kind in statuses[status])
        names = ", ".join(f"[`{n}`][sqlkv.{n}]" for kind in statuses[status] for n in classes.get(kind, []))
        rows.append(f"| {status} | {kinds} | {names} |")
    return rows


def markdown() -> str:
    """The CLI reference in Markdown: global options, exit statuses, then every command."""
    parser = cli.build_parser()
    groups = _subparsers(parser)
    kv = _subparsers(groups["kv"])
    out = ["## Global options", "", "```text", _usage(parser), "```", ""]
    out += _arguments(parser, include_global=True)
    out += ["", "## Exit statuses", "", "Every error is one line on standard error, `sqlkv: error: <message>`.", ""]
    out += _exit_statuses()
    out += ["", "## What `sqlkv --help` says", "", "```text", (parser.epilog or "").rstrip(), "```", ""]
    out += ["## NATS KV commands", "", "`sqlkv kv COMMAND` as `nats kv COMMAND`; `kv` may be left out.", ""]
    for command in COMMANDS:
        if command.kv:
            out += _command(command, kv[command.name])
    out += ["## Other commands", ""]
    for command in COMMANDS:
        if not command.kv:
            out += _command(command, groups[command.name])
    return "\n".join(out)


def on_page_markdown(text: str, page: Any, **kwargs: Any) -> str:
    """Put the generated reference in place of the marker."""
    return text.replace(MARKER, markdown()) if MARKER in text else text
