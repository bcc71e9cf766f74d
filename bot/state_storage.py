"""botbuilder ``Storage`` over the database: dialog, conversation and user state survive restarts.

Items are dicts or objects (``StoreItem``), turned into JSON with jsonpickle as botbuilder's own Azure
storages do, and kept in ``kv_items`` with an etag beside them (not inside the JSON):

* read: each item comes back with ``e_tag`` set to the stored etag;
* write: an item whose ``e_tag`` is ``None`` or ``"*"`` is written unconditionally, any other etag must
  still be the stored one (else :class:`storage.ConcurrencyError`), an empty etag is refused. All items
  of one ``write`` call succeed or none does; afterwards each item carries its new etag, so writing the
  same object again in the same turn works;
* delete: unknown keys are ignored.

Decoding only builds classes from trusted modules (botbuilder, this bot's packages and a few standard
types) and refuses jsonpickle's eval and module tags: a tampered row cannot make the bot run code.
"""

from __future__ import annotations

import contextlib
import importlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from botbuilder.core import Storage
from jsonpickle.errors import ClassNotFoundError  # type: ignore[import-untyped]
from jsonpickle.pickler import Pickler  # type: ignore[import-untyped]
from jsonpickle.unpickler import Unpickler  # type: ignore[import-untyped]

from storage import KeyValueStore, StateDecodeError

#: Messages botbuilder's storage contract tests expect, word for word.
KEYS_REQUIRED = "Keys are required when reading"
CHANGES_REQUIRED = "Changes are required when writing"

ETAG_FIELD = "e_tag"

#: Packages whose classes may be rebuilt from stored state.
DEFAULT_TRUSTED_PACKAGES = ("botbuilder", "botframework", "bot", "dialogs", "cards", "onboarding")

#: Standard-library classes jsonpickle uses for common values.
_TRUSTED_STDLIB_CLASSES = frozenset(
    {
        *(f"builtins.{name}" for name in ("object", "dict", "list", "set", "frozenset", "tuple")),
        *(f"builtins.{name}" for name in ("str", "int", "float", "bool", "bytes", "complex")),
        *(f"datetime.{name}" for name in ("datetime", "date", "time", "timedelta", "timezone")),
        "decimal.Decimal",
        "uuid.UUID",
        "collections.OrderedDict",
        "collections.defaultdict",
        "collections.deque",
    }
)
#: The only functions a stored ``py/reduce`` may call (they rebuild objects of already-checked classes).
_TRUSTED_FUNCTIONS = frozenset({"copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__"})
_CLASS_TAGS = ("py/object", "py/type")
_FUNCTION_TAG = "py/function"
#: ``py/repr`` evaluates text; ``py/mod`` imports arbitrary modules. Bot state needs neither.
_REFUSED_TAGS = ("py/repr", "py/mod")


class DatabaseStorage(Storage):  # type: ignore[misc]  # botbuilder is untyped
    """A botbuilder ``Storage`` backed by :class:`storage.KeyValueStore` (SQLite or PostgreSQL)."""

    def __init__(self, store: KeyValueStore, *, trusted_packages: Iterable[str] = ()) -> None:
        """Store items in ``store``; ``trusted_packages`` adds packages whose classes state may hold."""
        super().__init__()
        self._store = store
        self._trusted_packages = (*DEFAULT_TRUSTED_PACKAGES, *trusted_packages)
        self._verdicts: dict[str, bool] = {}

    async def read(self, keys: Iterable[str]) -> dict[str, Any]:
        """Load the items stored under ``keys``; missing keys are absent from the result."""
        if keys is None:
            raise ValueError(KEYS_REQUIRED)
        stored = await self._store.read(keys)
        return {key: self._decode(key, value_json, etag) for key, (value_json, etag) in stored.items()}

    async def write(self, changes: Mapping[str, Any]) -> None:
        """Save ``changes`` (``{key: dict or StoreItem}``) atomically, honouring each item's ``e_tag``."""
        if changes is None:
            raise ValueError(CHANGES_REQUIRED)
        if not changes:
            return
        items: dict[str, tuple[str, str | None]] = {}
        for key, item in changes.items():
            etag = _etag_of(item)
            if etag == "":
                raise ValueError(f"item {key!r} has an empty e_tag: use None or '*' to overwrite")
            items[key] = (_encode(item), etag)
        new_etags = await self._store.write_many(items)
        for key, item in changes.items():
            _set_etag(item, new_etags[key])

    async def delete(self, keys: Iterable[str]) -> None:
        """Remove the items stored under ``keys``; unknown keys are ignored."""
        if keys is None:
            raise ValueError("Keys are required when deleting")
        await self._store.delete(keys)

    def _decode(self, key: str, value_json: str, etag: str) -> Any:
        try:
            flat = json.loads(value_json)
            self._check_tags(flat)
            value = Unpickler(safe=True, on_missing="error").restore(flat, reset=True)
        except StateDecodeError as err:
            raise StateDecodeError(key, err.reason) from None
        except (
            ValueError,
            TypeError,
            AttributeError,
            KeyError,
            IndexError,
            ImportError,
            ClassNotFoundError,
        ) as err:
            raise StateDecodeError(key, type(err).__name__) from err
        _set_etag(value, etag)
        return value

    def _check_tags(self, node: Any) -> None:
        if isinstance(node, dict):
            for tag, value in node.items():
                if tag in _REFUSED_TAGS:
                    raise StateDecodeError("", f"tag {tag} is not allowed")
                if tag in _CLASS_TAGS and not self._trusted(value):
                    raise StateDecodeError("", f"class {value!r} is not trusted")
                if tag == _FUNCTION_TAG and value not in _TRUSTED_FUNCTIONS:
                    raise StateDecodeError("", f"function {value!r} is not trusted")
                self._check_tags(value)
        elif isinstance(node, list):
            for item in node:
                self._check_tags(item)

    def _trusted(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        verdict = self._verdicts.get(name)
        if verdict is None:
            verdict = name in _TRUSTED_STDLIB_CLASSES or self._is_trusted_class(name)
            self._verdicts[name] = verdict
        return verdict

    def _is_trusted_class(self, name: str) -> bool:
        parts = name.split(".")
        # Import only trusted packages, and require the name to be the class's own home, so that a path
        # through a trusted module's imports ("botbuilder.x.os.system") is refused.
        for split in range(len(parts) - 1, 0, -1):
            module_name = ".".join(parts[:split])
            if not any(module_name == p or module_name.startswith(p + ".") for p in self._trusted_packages):
                return False
            try:
                target: Any = importlib.import_module(module_name)
            except ImportError:
                continue
            try:
                for attribute in parts[split:]:
                    target = getattr(target, attribute)
            except AttributeError:
                return False
            return isinstance(target, type) and f"{target.__module__}.{target.__qualname__}" == name
        return False


def _encode(item: Any) -> str:
    flat = Pickler(unpicklable=True, make_refs=False).flatten(item, reset=True)
    if isinstance(flat, dict):
        # The etag lives in its own column; keeping it in the JSON would make every write look stale.
        flat.pop(ETAG_FIELD, None)
    return json.dumps(flat, ensure_ascii=False, separators=(",", ":"))


def _etag_of(item: Any) -> str | None:
    etag = item.get(ETAG_FIELD) if isinstance(item, dict) else getattr(item, ETAG_FIELD, None)
    return None if etag is None else str(etag)


def _set_etag(item: Any, etag: str) -> None:
    if isinstance(item, dict):
        item[ETAG_FIELD] = etag
        return
    # Objects without an instance dict (or slots) simply carry no etag.
    with contextlib.suppress(AttributeError, TypeError):
        setattr(item, ETAG_FIELD, etag)
