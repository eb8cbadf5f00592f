"""sqlkv: a durable, embedded key/value store on SQLite with the data model of NATS JetStream KV.

The public names are the ones imported in the ``TYPE_CHECKING`` block below,
listed there once: type checkers read them as imports, and at run time each
loads on first use (PEP 562), so ``import sqlkv`` and the ``sqlkv`` command
start fast. ``__all__`` is made from the same list, and every public name
reports ``sqlkv`` as its module.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._api.async_interface import AsyncBucket as AsyncBucket
    from ._api.async_interface import AsyncStore as AsyncStore
    from ._api.async_interface import AsyncWatcher as AsyncWatcher
    from ._api.lifecycle import collected_open as collected_open
    from ._api.lifecycle import open_stores as open_stores
    from ._api.locks import AsyncLock as AsyncLock
    from ._api.locks import Lock as Lock
    from ._api.replica_interface import AsyncReplica as AsyncReplica
    from ._api.replica_interface import Replica as Replica
    from ._api.sync_interface import Bucket as Bucket
    from ._api.sync_interface import Store as Store
    from ._api.sync_interface import Watcher as Watcher
    from ._api.transaction import AsyncTransaction as AsyncTransaction
    from ._api.transaction import Transaction as Transaction
    from ._api.typed import AsyncTypedBucket as AsyncTypedBucket
    from ._api.typed import AsyncTypedWatcher as AsyncTypedWatcher
    from ._api.typed import TypedBucket as TypedBucket
    from ._api.typed import TypedWatcher as TypedWatcher
    from ._model.config import BucketConfig as BucketConfig
    from ._model.entry import BucketStatus as BucketStatus
    from ._model.entry import Entry as Entry
    from ._model.entry import Operation as Operation
    from ._model.errors import AtomicCheckError as AtomicCheckError
    from ._model.errors import BucketExistsError as BucketExistsError
    from ._model.errors import BucketFullError as BucketFullError
    from ._model.errors import BucketNotFoundError as BucketNotFoundError
    from ._model.errors import CheckFailure as CheckFailure
    from ._model.errors import CodecError as CodecError
    from ._model.errors import CodecMismatchError as CodecMismatchError
    from ._model.errors import ErrorKind as ErrorKind
    from ._model.errors import InvalidArgumentError as InvalidArgumentError
    from ._model.errors import InvalidBucketNameError as InvalidBucketNameError
    from ._model.errors import InvalidKeyError as InvalidKeyError
    from ._model.errors import KeyDeletedError as KeyDeletedError
    from ._model.errors import KeyExistsError as KeyExistsError
    from ._model.errors import KeyNotFoundError as KeyNotFoundError
    from ._model.errors import LockNotAcquiredError as LockNotAcquiredError
    from ._model.errors import NotACounterError as NotACounterError
    from ._model.errors import NotAStoreError as NotAStoreError
    from ._model.errors import ReplicaError as ReplicaError
    from ._model.errors import ReplicaReadOnlyError as ReplicaReadOnlyError
    from ._model.errors import RevisionGapError as RevisionGapError
    from ._model.errors import SchemaTooNewError as SchemaTooNewError
    from ._model.errors import SqlkvError as SqlkvError
    from ._model.errors import StorageError as StorageError
    from ._model.errors import StorageFullError as StorageFullError
    from ._model.errors import StoreBusyError as StoreBusyError
    from ._model.errors import StoreClosedError as StoreClosedError
    from ._model.errors import TransactionTooLargeError as TransactionTooLargeError
    from ._model.errors import UnsupportedError as UnsupportedError
    from ._model.errors import ValueDecodeError as ValueDecodeError
    from ._model.errors import ValueTooLargeError as ValueTooLargeError
    from ._model.errors import WrongLastRevisionError as WrongLastRevisionError
    from ._model.replica import ReplicaConflict as ReplicaConflict
    from ._model.replica import ReplicaProblem as ReplicaProblem
    from ._model.replica import ReplicaStatus as ReplicaStatus
    from ._model.validate import MAX_KEY_LENGTH as MAX_KEY_LENGTH
    from ._model.validate import MAX_VALUE_SIZE as MAX_VALUE_SIZE
    from ._storage.paths import default_store_path as default_store_path

__version__ = "0.1.0"


def _public_names() -> dict[str, str]:
    """The public names and their modules, read from the imports above (the one list of them).

    From the source when there is one; from the compiled code otherwise (a
    package shipped as ``.pyc`` files only, a frozen desktop application).
    """
    try:
        with open(__file__, encoding="utf-8") as file:
            source = file.read()
    except (OSError, UnicodeDecodeError):
        source = ""
    if "TYPE_CHECKING" in source:
        import re

        return dict(
            (name, module) for module, name in re.findall(r"^    from (\.\S+) import (\w+) as \2$", source, re.M)
        )
    import dis

    found: dict[str, str] = {}
    module = ""
    for instruction in dis.get_instructions(__loader__.get_code(__name__)):  # type: ignore[name-defined]
        if instruction.opname == "IMPORT_NAME":
            module = "." + str(instruction.argval)
        elif instruction.opname == "IMPORT_FROM" and module.startswith("._"):
            found[str(instruction.argval)] = module
    return found


_WHERE = _public_names()

__all__ = (*sorted(_WHERE), "__version__")


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'sqlkv' has no attribute {name!r}")
    from ._api.registry import load  # the one place that loads a module by name

    value = load(f"{__name__}{module}:{name}")
    if isinstance(value, type) or callable(value):
        value.__module__ = "sqlkv"
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
