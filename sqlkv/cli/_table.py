"""The one table of CLI commands: name, aliases, help, arguments, handler, group, and what each does to the store."""

from __future__ import annotations

from . import _commands as run
from . import _parsers as args

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing at run time: a command starts sooner)
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["BY_NAME", "COMMANDS", "Command"]


class Command:
    """One command of ``sqlkv``.

    - ``name``, ``aliases`` and ``help``: how it is called and listed;
    - ``arguments(parser)`` adds its arguments; ``handler`` runs it and returns the exit status;
    - ``kv``: it is a ``nats kv`` command (``sqlkv kv NAME`` and ``sqlkv NAME``), else top level only;
    - ``access``: ``"read"`` (a store it cannot write is opened read-only), ``"write"`` (the store must
      exist and be writable) or ``"create"`` (it may create the store);
    - ``opens``: what ``handler`` gets after the arguments: ``"store"`` the open ``sqlkv.Store``,
      ``"location"`` the store's location and whether to open it read-only (it opens it itself),
      ``"nothing"`` (it is given its stores as arguments);
    - ``until_stopped``: it runs until Ctrl-C, and SIGTERM stops it the same way (the store closes cleanly).
    """

    __slots__ = ("access", "aliases", "arguments", "handler", "help", "kv", "name", "opens", "until_stopped")

    def __init__(
        self,
        name: str,
        help: str,
        arguments: Callable[[args.Parser], None],
        handler: Callable[..., int],
        *,
        aliases: tuple[str, ...] = (),
        kv: bool = True,
        access: str = "write",
        opens: str = "store",
        until_stopped: bool = False,
    ) -> None:
        self.name, self.help, self.arguments, self.handler = name, help, arguments, handler
        self.aliases, self.kv, self.access, self.opens = aliases, kv, access, opens
        self.until_stopped = until_stopped

    def __repr__(self) -> str:
        return f"Command({self.name!r})"


_READ, _CREATE = "read", "create"

COMMANDS: tuple[Command, ...] = (
    Command("add", "create a bucket and show its status", args.add, run.add, aliases=("new",), access=_CREATE),
    Command("edit", "change a bucket's settings (only the flags given) and show its status", args.edit, run.edit),
    Command(
        "info",
        "show a bucket's status; without BUCKET, the store (file, buckets)",
        args.info,
        run.bucket_or_store_info,
        aliases=("view", "status"),
        access=_READ,
    ),
    Command("put", "store a value; prints the value", args.put, run.put),
    Command("create", "store a value only if the key is absent or deleted; prints the value", args.put, run.create),
    Command("update", "store a value only if REVISION is the key's latest revision", args.update, run.update),
    Command("incr", "add BY (default 1) to the key's integer value; prints the new value", args.incr, run.incr),
    Command("touch", "set how long from now the key expires, writing no new revision", args.touch, run.touch),
    Command("get", "show a key's value", args.get, run.get, access=_READ),
    Command("del", "delete a key (a delete marker); without KEY, delete the bucket", args.delete, run.delete),
    Command("rm", "delete a bucket and all its data", args.remove_bucket, run.remove_bucket),
    Command(
        "detach",
        "make a replica bucket (sqlkv replicate) a plain local bucket again, keeping its data",
        args.detach,
        run.detach,
    ),
    Command("purge", "delete a key and its history (a purge marker remains)", args.purge, run.purge),
    Command(
        "compact", "drop the history of deleted keys (markers older than 30 minutes too)", args.compact, run.compact
    ),
    Command("history", "show every retained revision of a key", args.history, run.history, access=_READ),
    Command("revert", "store an earlier revision's value again (as a new revision)", args.revert, run.revert),
    Command(
        "keys",
        "list live keys, optionally matching filters (* one token, > the rest)",
        args.keys,
        run.keys,
        access=_READ,
    ),
    Command("ls", "list buckets; with BUCKET, list its keys", args.ls, run.ls, aliases=("list",), access=_READ),
    Command(
        "watch", "show changes as they happen (Ctrl-C to stop)", args.watch, run.watch, access=_READ, until_stopped=True
    ),
    Command(
        "backup",
        "copy the store to PATH as one consistent snapshot, while others write",
        args.backup,
        run.backup,
        kv=False,
        access=_READ,
    ),
    Command(
        "export",
        "write buckets as JSON Lines (standard output or -o FILE)",
        args.export,
        run.export,
        kv=False,
        access=_READ,
    ),
    Command(
        "migrate",
        "copy buckets between stores: files and nats:// servers, either way",
        args.migrate,
        run.migrate,
        kv=False,
        access=_READ,
        opens="nothing",
    ),
    Command(
        "import",
        "load JSON Lines written by export (FILE or standard input)",
        args.import_,
        run.import_,
        kv=False,
        access=_CREATE,
    ),
    Command(
        "replicate",
        "make BUCKET follow a NATS KV bucket: one line per applied batch (Ctrl-C to stop)",
        args.replicate,
        run.replicate,
        kv=False,
        until_stopped=True,
    ),
    Command(
        "ui",
        "a local web inspector: buckets, keys, values, history and live changes (read-only by default)",
        args.ui,
        run.ui,
        kv=False,
        access=_READ,
        opens="location",
        until_stopped=True,
    ),
)
"""Every command, in the order ``sqlkv --help`` lists them (the ``kv`` ones first)."""

BY_NAME: dict[str, Command] = {alias: c for c in COMMANDS for alias in (c.name, *c.aliases)}
"""Each command by its name and by each of its aliases."""
