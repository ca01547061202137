"""A cache of composed configurations, so that ``carenet run`` need not start Hydra.

Composing ``configs/`` with Hydra costs about 0.6 s of a 1-week run (importing Hydra,
scanning its plugins, building the defaults tree); the result depends only on the
override list and on files and code that rarely change. :func:`lookup` answers the
composition of an override list from an entry written by an earlier composition of the
same list, and :func:`store` writes one.

An entry is used only when everything the composition read is what it was: the key is a
SHA-256 over

* the model's selector and the override list, as given (order included);
* the content of every file of the model's config package and of the engine's
  (``carenet.configs``), and of every file of the ``hydra_plugins`` namespace (a Hydra
  search-path plugin can add configuration);
* the schema's defaults (what ``_register_schemas`` stores in Hydra's ConfigStore) and
  the source of every module defining a dataclass of the schema, and of the composition
  code itself (``sim/config.py``, ``sim/modelspec.py``, this module);
* the versions of carenet, Hydra and OmegaConf.

Override lists that could depend on anything else are never cached: one holding an
interpolation (``${...}``, e.g. ``oc.env``), one under ``hydra`` (a search path, a
launcher), or a config package whose files hold an interpolation outside ``hydra/``.

Entries live in ``$XDG_CACHE_HOME/carenet/compose`` (or ``~/.cache/carenet/compose``),
one JSON file per key, written to a temporary file and renamed into place (atomic: a
reader sees a whole entry or none; two writers of one key write the same bytes). Each
entry carries its key and a checksum of its configuration; an entry that cannot be read,
does not parse, or fails either check is ignored (and recomposed). A configuration that
JSON cannot hold exactly (a non-string key, a tuple) is not stored. The folder keeps the
:data:`MAX_ENTRIES` newest entries. ``CARENET_NO_CACHE=1`` turns the cache off.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

FORMAT = 1
"""Version of the entry layout and of the key's recipe; part of every key."""

MAX_ENTRIES = 256
"""Entries kept; the oldest beyond this are removed when one is written."""

_INTERPOLATION = b"${"


def cache_dir() -> Path:
    """The folder of the entries (``$XDG_CACHE_HOME/carenet/compose`` or ``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "carenet" / "compose"


def enabled() -> bool:
    """Whether the cache is on (``CARENET_NO_CACHE`` unset, empty or ``0``)."""
    return os.environ.get("CARENET_NO_CACHE", "").strip() in ("", "0")


def cacheable(overrides: list[str]) -> bool:
    """Whether an override list's composition depends only on what the key covers."""
    for ov in overrides:
        key = ov.split("=", 1)[0].lstrip("+~")
        if "${" in ov or key.startswith("hydra") or ov.startswith("-"):
            return False
    return True


_KEY = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")
_INT = re.compile(r"^-?(?:0|[1-9][0-9]{0,17})$")
_STR = re.compile(r"^[A-Za-z_/.][A-Za-z0-9_./-]*$")
_SPECIAL = frozenset({"true", "false", "null", "none", "nan", "inf", "+inf", "-inf"})


def plain_value(text: str) -> bool | int | str | None:
    """The value Hydra reads from an unquoted override value of the plainest forms, or None.

    Only three forms are answered: ``true`` or ``false`` (lower case), a decimal integer
    (``42``, ``-3``), and a bare string of
    letters, digits and ``_./-`` that starts with a letter, ``_``, ``/`` or ``.`` and that
    no number or keyword (``true``, ``null``, ``inf`` ...) could be read from
    (``results/a``, ``outputs/run-1``); anything else is left to Hydra.
    """
    if _INT.match(text):
        return int(text)
    if text in ("true", "false"):
        return text == "true"
    if not _STR.match(text) or text.lower() in _SPECIAL:
        return None
    try:
        float(text)
    except ValueError:
        return text
    return None


def lift_values(
    overrides: list[str], groups: tuple[str, ...]
) -> tuple[list[str], list[tuple[list[str], Any]]]:
    """Split off the overrides that only set one existing scalar to a plain value.

    ``out=results/a`` or ``seed=3`` set a key after composition (Hydra's value
    overrides, see :func:`carenet.sim.config.split_overrides`), so one entry, keyed on the
    other overrides, serves every output folder and seed. An override is lifted when it
    is ``KEY=VALUE`` with no ``+``/``~``, KEY is not a config group, no other override
    touches KEY or a key above or below it, and :func:`plain_value` reads VALUE.

    Returns:
        The overrides kept (the key's), and (key path, value) for each lifted one.
    """
    keys = [ov.split("=", 1)[0].lstrip("+~") for ov in overrides]
    kept: list[str] = []
    lifted: list[tuple[list[str], Any]] = []
    for i, ov in enumerate(overrides):
        key, eq, text = ov.partition("=")
        value = plain_value(text) if eq and _KEY.match(key) else None
        alone = all(
            j == i or not (k == key or k.startswith(key + ".") or key.startswith(k + "."))
            for j, k in enumerate(keys)
        )
        if value is None or key in groups or key.split(".", 1)[0] == "hydra" or not alone:
            kept.append(ov)
        else:
            lifted.append((key.split("."), value))
    return kept, lifted


def apply_lifted(config: dict[str, Any], lifted: list[tuple[list[str], Any]]) -> bool:
    """Set the lifted values in ``config`` (in place), as Hydra sets an existing scalar.

    Returns:
        False, leaving ``config`` partly set, where a key is missing or holds a mapping or
        a list (Hydra's rules differ there; the caller composes afresh).
    """
    for path, value in lifted:
        node: Any = config
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or path[-1] not in node:
            return False
        if isinstance(node[path[-1]], dict | list):
            return False
        node[path[-1]] = value
    return True


def _package_files(package: str) -> list[tuple[str, bytes]]:
    """Every file under an importable package's folder (relative path, content), sorted."""
    out: list[tuple[str, bytes]] = []
    todo = [("", resources.files(package))]
    while todo:
        rel, node = todo.pop()
        for child in node.iterdir():
            name = f"{rel}{child.name}"
            if child.name == "__pycache__":
                continue
            if child.is_dir():
                todo.append((name + "/", child))
            elif child.is_file():
                out.append((name, child.read_bytes()))
    return sorted(out)


def _plugin_files() -> list[tuple[str, bytes]]:
    """The source files of every ``hydra_plugins`` folder Hydra would scan (path, content)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("hydra_plugins")
    except (ImportError, ValueError):
        spec = None
    locations = sorted(spec.submodule_search_locations or []) if spec else []
    out: list[tuple[str, bytes]] = []
    for loc in locations:
        out.extend((str(p), p.read_bytes()) for p in sorted(Path(loc).rglob("*.py")))
    return out


def _schema_modules(schema: type) -> set[str]:
    """The source files of the modules defining the schema's dataclasses (nested ones too)."""
    files: set[str] = set()
    todo: list[Any] = [schema()]
    while todo:
        obj = todo.pop()
        mod = sys.modules.get(type(obj).__module__)
        if mod is not None and getattr(mod, "__file__", None):
            files.add(str(mod.__file__))
        for cls in type(obj).__mro__:
            m = sys.modules.get(cls.__module__)
            if dataclasses.is_dataclass(cls) and m is not None and getattr(m, "__file__", None):
                files.add(str(m.__file__))
        todo.extend(
            getattr(obj, f.name)
            for f in dataclasses.fields(obj)
            if dataclasses.is_dataclass(getattr(obj, f.name))
        )
    return files


def _versions() -> list[str]:
    from importlib import metadata

    out = []
    for dist in ("carenet", "hydra-core", "omegaconf"):
        try:
            out.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            out.append(f"{dist}=?")
    return out


def sources_digest(selector: str, package: str, schema: type) -> str | None:
    """A digest of everything but the overrides that a composition reads.

    Args:
        selector: The model (``""``: the default).
        package: The model's config package (``""``: configured by its schema alone).
        schema: The model's run schema (defaults and run keys).

    Returns:
        A hex SHA-256, or None where no entry may be used (a config file holding an
        interpolation outside ``hydra/``, a file that cannot be read).
    """
    h = hashlib.sha256()

    def part(label: str, data: bytes) -> None:
        h.update(f"{label}\0{len(data)}\0".encode())
        h.update(data)

    part("format", str(FORMAT).encode())
    part("selector", selector.encode())
    part("versions", " ".join(_versions()).encode())
    try:
        for pkg in dict.fromkeys(p for p in (package, "carenet.configs") if p):
            for rel, data in _package_files(pkg):
                if _INTERPOLATION in data and not rel.startswith("hydra/"):
                    return None
                part(f"{pkg}:{rel}", data)
        for path, data in _plugin_files():
            part(path, data)
        here = Path(__file__).parent
        code = {str(here / n) for n in ("config.py", "modelspec.py", "config_cache.py")}
        for path in sorted(code | _schema_modules(schema)):
            part(path, Path(path).read_bytes())
    except OSError:
        return None
    defaults = dataclasses.asdict(schema())
    part("defaults", json.dumps(defaults, sort_keys=True, default=repr).encode())
    return h.hexdigest()


def entry_key(digest: str | None, overrides: list[str]) -> str | None:
    """The key of an override list's composition, or None where it must not be cached.

    Args:
        digest: :func:`sources_digest` of the model (None: nothing is cached).
        overrides: The override list without the model's selection, as given.
    """
    if digest is None or not cacheable(overrides):
        return None
    return hashlib.sha256(f"{digest}\0{json.dumps(overrides)}".encode()).hexdigest()


def _checksum(config: Any) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def lookup(key: str) -> dict[str, Any] | None:
    """The configuration stored under a key, or None (absent, unreadable or damaged)."""
    try:
        with open(cache_dir() / f"{key}.json", encoding="utf-8") as fh:
            entry = json.load(fh)
        config = entry["config"]
        if (
            entry.get("format") != FORMAT
            or entry.get("key") != key
            or not isinstance(config, dict)
            or entry.get("checksum") != _checksum(config)
        ):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
    return config


def same(a: Any, b: Any) -> bool:
    """Whether two plain values are equal with the same types throughout (1 is not 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a != a:  # NaN
        return b != b
    return bool(a == b)


def store(key: str, config: dict[str, Any]) -> bool:
    """Write a configuration under a key (atomically); False where it was not written.

    Nothing is written when JSON would not give back the same configuration (see
    :func:`same`) or the folder cannot be written; the caller's configuration is
    unaffected either way.
    """
    try:
        text = json.dumps(
            {"format": FORMAT, "key": key, "checksum": _checksum(config), "config": config}
        )
        if not same(json.loads(text)["config"], config):
            return False
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, folder / f"{key}.json")
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _prune(folder)
    except (OSError, TypeError, ValueError, RecursionError):
        return False
    return True


def _prune(folder: Path) -> None:
    """Keep the :data:`MAX_ENTRIES` newest entries (by modification time)."""
    entries = []
    for p in folder.glob("*.json"):
        with contextlib.suppress(OSError):
            entries.append((p.stat().st_mtime_ns, p.name, p))
    for _, _, p in sorted(entries, reverse=True)[MAX_ENTRIES:]:
        with contextlib.suppress(OSError):
            p.unlink()
