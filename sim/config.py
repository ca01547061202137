"""Compose a configuration with Hydra and check every value before anything runs.

``load_config(overrides)`` is the one entry point: it composes ``configs/`` with the user's
overrides (Hydra's compose API, so it works from tests and from other programs), then
:func:`validate` turns the result into a typed instance of the model's schema (carenet's:
``CarenetConfig`` in ``models/schema.py``), raising :class:`ConfigError` with a
one-line message naming the key, the value and what is allowed at the first bad value.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, fields
from importlib import resources
from pathlib import Path
from typing import Any

from carenet.params import (
    ConfigError,
    allowed,
    list_example,
    nested_schema,
    plain_copy,
    type_name,
    typed,
)

from . import config_cache
from .modelspec import MODEL_KEY, load_spec, run_schema, selector_of, split_model

__all__ = ["ConfigError", "GROUPS", "group_options", "load_config", "validate", "to_dict"]

DEFAULT_PACKAGE = "carenet.configs"
"""Config package of the default model, and the engine's (Hydra launcher presets)."""


_DEFAULTS_READ: dict[str, tuple[Any, list[Any]]] = {}
"""Each config package's parsed defaults list, with the file state it was read at."""


def _defaults_list(package: str) -> list[Any]:
    """The ``defaults`` list of a config package's ``config.yaml`` (a fresh copy).

    Parsed once per process while the file is unchanged (same size and modification
    time): a sweep checks every combination against it, and parsing the YAML again cost
    about 3 ms a run.
    """
    import yaml

    node = resources.files(package).joinpath("config.yaml")
    try:
        st = os.stat(node)  # type: ignore[call-overload]
        state: Any = (str(node), st.st_size, st.st_mtime_ns, st.st_ino)
    except TypeError:  # not a file on disk (a zip): read it each time
        state = None
    seen = _DEFAULTS_READ.get(package)
    if state is None or seen is None or seen[0] != state:
        items = (yaml.safe_load(node.read_text()) or {}).get("defaults", [])
        seen = _DEFAULTS_READ[package] = (state, plain_copy(list(items)))
    return plain_copy(seen[1])


def config_groups(package: str) -> tuple[str, ...]:
    """The config groups a config package's ``config.yaml`` chooses, in its order."""
    if not package:
        return ()
    out = []
    for item in _defaults_list(package):
        if isinstance(item, dict):
            out.extend(k for k in item if not str(k).startswith(("hydra", "override")))
    return tuple(out)


GROUPS: tuple[str, ...] = config_groups(DEFAULT_PACKAGE)
"""The default model's Hydra config groups, each a folder of options under ``configs/``."""


def groups_of(selector: str = "") -> tuple[str, ...]:
    """The config groups of a model (none for a model configured by its schema alone)."""
    return config_groups(load_spec(selector).config_package)


def group_options(group: str, package: str = DEFAULT_PACKAGE) -> list[str]:
    """Return the option names available for a config group, sorted."""
    folder = resources.files(package).joinpath(group)
    names = [
        p.name[: -len(".yaml")]
        for p in folder.iterdir()
        if p.name.endswith(".yaml") and not p.name.startswith("_")
    ]
    return sorted(names)


def default_choices(package: str) -> dict[str, str]:
    """The option each config group of a config package takes by default."""
    if not package:
        return {}
    out: dict[str, str] = {}
    for item in _defaults_list(package):
        if isinstance(item, dict):
            out.update({str(k): str(v) for k, v in item.items() if not str(k).startswith("hydra")})
    return out


def _check_name_labels(overrides: list[str], groups: tuple[str, ...], package: str) -> None:
    """Refuse ``GROUP.name=OTHER`` where OTHER is another option of the group.

    A group's ``name`` is the label its option gives the arrangement (in the headline, the
    manifest and the report); setting it to another option's name would label a run with
    an arrangement it did not run (``structure=hierarchy structure.name=network``). A name
    that is no option of the group (a label of your own) is kept.
    """
    chosen = default_choices(package)
    for ov in overrides:
        key, _, value = ov.partition("=")
        key = key.lstrip("+")
        if key in groups:
            chosen[key] = value
    for ov in overrides:
        key, _, value = ov.partition("=")
        group, _, leaf = key.lstrip("+").partition(".")
        value = value.strip("'\"")
        if leaf != "name" or group not in groups or value == chosen.get(group):
            continue
        if value in group_options(group, package):
            raise ConfigError(
                f"{group}.name: {value!r} contradicts {group}={chosen.get(group)} "
                f"({group}.name is set by the chosen option, with the values that go with "
                f"it); to choose {value}, give {group}={value}; for a label of your own, "
                f"use a name that is not an option ({', '.join(group_options(group, package))})"
            )


def _check_group_choices(overrides: list[str], selector: str = "") -> None:
    groups = groups_of(selector)
    package = load_spec(selector).config_package
    for ov in overrides:
        if ov.startswith("~") and not ov[1:].startswith("hydra"):
            raise ConfigError(
                f"{ov.split('=', 1)[0]}: removing a key is not supported; every key has a "
                f"value: set it instead ({ov.split('=', 1)[0][1:]}=VALUE) or leave it out "
                "to keep its default (see docs/parameters.md)"
            )
        if "=" not in ov:
            raise ConfigError(f"override {ov!r}: expected KEY=VALUE (e.g. population.size=50000)")
        key, value = ov.split("=", 1)
        if not key.lstrip("+"):
            raise ConfigError(
                f"override {ov!r}: the key before '=' is missing; expected KEY=VALUE "
                "(e.g. population.size=50000)"
            )
        key = key.lstrip("+")
        if key.startswith("hydra"):
            continue
        _check_key(key, value, run_schema(selector), groups)
        if key in groups:
            options = group_options(key, package)
            if value not in options:
                hint = " (to sweep several, add -m)" if "," in value else ""
                raise ConfigError(
                    f"{key}: {value!r} is not a known option;{_did_you_mean(value, options)} "
                    f"allowed: {', '.join(options)}" + hint
                )
    _check_name_labels(overrides, groups, package)


def _did_you_mean(word: str, choices: list[str] | set[str], prefix: str = "") -> str:
    """`` did you mean X?`` for the closest of ``choices`` to ``word``, or an empty string."""
    import difflib

    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" did you mean {prefix}{close[0]}?" if close else ""


def _check_key(key: str, value: str, cls: type, groups: tuple[str, ...]) -> None:
    """Reject an override key that names no parameter, listing the valid keys there."""
    parts = key.split(".")
    where = ""
    for i, part in enumerate(parts):
        known = {f.name: f for f in fields(cls)}
        if i == 0 and part in groups and len(parts) == 1:
            return  # a group choice: checked against the group's options
        if part not in known:
            here = f" in {where}" if where else ""
            prefix = f"{where}." if where else ""
            raise ConfigError(
                f"{key}: unknown key (given {key}={value});"
                f"{_did_you_mean(part, set(known), prefix)} valid keys{here}: "
                + ", ".join(sorted(known))
            )
        f = known[part]
        t = type_name(f)
        sub = nested_schema(cls, f)
        if sub is not None:
            cls = sub
            where = ".".join(parts[: i + 1])
            continue
        if t in ("dict", "list"):
            return  # free-form contents are checked by validate()
        if i != len(parts) - 1:
            raise ConfigError(f"{key}: {'.'.join(parts[: i + 1])} is a single value, not a group")
        return


_REGISTERED: set[str] = set()
"""The models whose schema nodes this process has stored (Hydra's ConfigStore is per process)."""


def primary_config(selector: str = "") -> tuple[str, str]:
    """The config module and primary config name Hydra composes for a model."""
    spec = load_spec(selector)
    if spec.config_package:
        return spec.config_package, "config"
    return DEFAULT_PACKAGE, "carenet_model_" + re.sub(r"\W", "_", selector)


def _register_schemas(selector: str = "") -> None:
    """Store a model's schema defaults in Hydra's ConfigStore as untyped nodes.

    A model with a config package: each group's defaults, as ``GROUP/_schema``; group YAML
    files list ``_schema`` first in their defaults, so each option only states what
    differs from the schema. A model configured by its schema alone: its whole default
    configuration (with the run keys and its ``model`` key) as the primary config. The
    nodes are untyped (not dataclasses) so that type and range errors reach carenet's own
    validator, which words them in one line.
    """
    if selector in _REGISTERED:
        return
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    cs = ConfigStore.instance()
    root = run_schema(selector)()
    groups = groups_of(selector)
    if not groups:
        data = asdict(root)
        if selector:
            data[MODEL_KEY] = selector
        node = OmegaConf.create(data)
        _unlock_dicts(node, root)
        cs.store(name=primary_config(selector)[1], node=node)
    for group in groups:
        part = getattr(root, group)
        node = OmegaConf.create(asdict(part))
        _unlock_dicts(node, part)
        cs.store(group=group, name="_schema", node=node)
    _REGISTERED.add(selector)


def _unlock_dicts(node: Any, part: Any) -> None:
    """Free-form mappings (power_rule.params, costs.items) accept new keys without '+'."""
    from omegaconf import OmegaConf

    for f in fields(part):
        if f.type == "dict":
            OmegaConf.set_struct(node[f.name], False)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def _hydra_session(selector: str = "") -> Iterator[Any]:
    """Hydra's compose API over a model's configs (cleared afterwards); yields its loader."""
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    _register_schemas(selector)
    module = primary_config(selector)[0]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=module, version_base="1.3"):
            yield GlobalHydra.instance().config_loader()
    finally:
        GlobalHydra.instance().clear()


class Composition:
    """One Hydra composition, and its task part as plain dicts where that is usable.

    Attributes:
        cfg: The composed configuration (an OmegaConf ``DictConfig``).
        plain: Its unresolved contents without the ``hydra`` node, as plain dicts; None
            when they hold an interpolation (then values cannot be set on plain dicts,
            see :func:`apply_values`).
    """

    def __init__(self, cfg: Any) -> None:
        from omegaconf import OmegaConf

        self.cfg = cfg
        raw = OmegaConf.to_container(cfg, resolve=False)
        assert isinstance(raw, dict)
        raw.pop("hydra", None)
        self.plain: dict[str, Any] | None = None if has_interpolation(raw) else raw


def _into_list_item(override: str) -> str:
    """``LIST.N.KEY=V`` as ``++LIST.N.KEY=V``: sets a key of an item of a free-form list.

    The items of a list parameter (``scenario.shocks``) are mappings checked by the
    model, not by Hydra; a preset item need not spell out every key its kind accepts
    (``kinds`` of a shock), so a key that the item does not list is added, not refused.
    An unknown key still stops at validation, naming it.
    """
    key, eq, value = override.partition("=")
    if not eq or key.startswith(("+", "~")) or key.startswith("hydra"):
        return override
    parts = key.split(".")
    for i in range(1, len(parts) - 1):
        if parts[i].isdigit() and _field_type(".".join(parts[:i])) == "list":
            return "++" + override
    return override


_KINDS = {"DictConfig": "a mapping", "ListConfig": "a list"}


def _unknown_hydra_option(first: str, loader: Any) -> ConfigError | None:
    """The one-line error for an unknown option of a Hydra group (``hydra/launcher=x``)."""
    m = re.search(r"Could not find '(hydra/[^']+)/([^'/]+)'", first)
    if not m:
        return None
    options = loader.get_group_options(m.group(1))
    return ConfigError(
        f"{m.group(1)}: {m.group(2)!r} is not a known option; allowed: "
        + ", ".join(o for o in options if not o.startswith(("_", "carenet_")))
    )


def _explained(exc: Exception, loader: Any, name: str, overrides: list[str]) -> ConfigError:
    """A composition error in one line naming the key, the value and what is allowed.

    Runs inside the Hydra session (``loader``), so that it can list a group's options or
    compose again without the failing override to count a list's entries.
    """
    from hydra import compose as hydra_compose
    from omegaconf import OmegaConf

    first = _first_line(exc)
    cause = exc.__cause__
    m = re.match(r"Error merging override (.+)$", first)
    if m and cause is not None:
        ov = m.group(1)
        key, _, value = ov.partition("=")
        bare = key.lstrip("+~")
        text = str(cause)
        mt = re.match(r"Cannot merge (\w+) with (\w+)", text)
        if mt:
            given = _KINDS.get(mt.group(1), "a value")
            f = _schema_field(bare)
            want = (
                list_example(f)
                if f is not None and type_name(f) == "list"
                else _KINDS.get(mt.group(2), "a value of another kind")
            )
            return ConfigError(f"{bare}: {value!r} is {given}; expected {want}")
        mi = re.search(r"full_key: (\S+)\[(\d+)\]", text)
        if "index out of range" in text and mi:
            lst, index = mi.group(1), int(mi.group(2))
            rest = [o for o in overrides if o != ov]
            try:
                cfg = hydra_compose(config_name=name, overrides=rest)
                n = len(OmegaConf.select(cfg, lst) or [])
            except Exception:
                n = -1
            have = "none" if n == 0 else (f"{n}, at indices 0 to {n - 1}" if n > 0 else "fewer")
            return ConfigError(
                f"{bare}: index {index} is out of range ({lst} has {have} in this "
                f"configuration); give an index that exists, or set the whole list "
                f"({lst}=[...], see docs/parameters.md)"
            )
    unknown = _unknown_hydra_option(first, loader)
    if unknown:
        return unknown
    if first.startswith("Config group override must be a string"):
        return _hydra_as_value(loader, overrides)
    return _compose_error(exc)


def _hydra_as_value(loader: Any, overrides: list[str]) -> ConfigError:
    """The one-line error for ``hydra=VALUE``: Hydra's own configuration is not a value."""
    bad = next((o for o in overrides if o.split("=", 1)[0].lstrip("+~") == "hydra"), "hydra")
    groups = ("launcher", "sweeper")
    opts = "; ".join(
        f"hydra/{g}="
        + "|".join(
            o for o in loader.get_group_options(f"hydra/{g}") if not o.startswith(("_", "carenet_"))
        )
        for g in groups
    )
    return ConfigError(
        f"{bad.split('=', 1)[0]}: {bad.partition('=')[2]!r} is not allowed; hydra is "
        f"Hydra's own configuration, not a value: choose its groups ({opts}) or set "
        "its keys (e.g. hydra.launcher.n_jobs=4)"
    )


def _compose_error(exc: Exception) -> ConfigError:
    """Hydra's composition errors (several types, long messages) as one line."""
    first = _first_line(exc)
    text = str(exc)
    m = re.match(r"Could not override '([^']+)'", first)
    if m:
        return ConfigError(
            f"{m.group(1)}: not in the configuration; add a new entry with +{m.group(1)}=VALUE"
        )
    m = re.match(r"Could not append to config\. An item is already at '([^']+)'", first)
    if m:
        return ConfigError(
            f"+{m.group(1)}: {m.group(1)} is already in the configuration; drop the '+' "
            f"to change it ({m.group(1)}=VALUE)"
        )
    m = re.match(r"Interpolation key '([^']+)' not found", first)
    if m:
        where = re.search(r"full_key: (\S+)", text)
        key = where.group(1) if where else "an override"
        return ConfigError(
            f"{key}: the interpolation ${{{m.group(1)}}} names no key of the configuration; "
            "give a plain value, or ${KEY} with a KEY that exists (see docs/parameters.md)"
        )
    return ConfigError(f"could not compose configuration: {first}")


_UNQUOTED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-/\\+.$%*@?|: ")
"""Characters Hydra's override grammar reads in a value without quotes (besides brackets,
braces, commas and quotes, which shape lists, mappings and sweeps)."""


_SESSION_SCHEMA: list[type] = []
"""The schema of the model being composed (for messages about unreadable overrides)."""


def _schema_field(key: str) -> Any:
    """The schema field of a dotted key, or None."""
    cls: type | None = _SESSION_SCHEMA[-1] if _SESSION_SCHEMA else run_schema("")
    f = None
    for part in key.lstrip("+~").split("."):
        known = {g.name: g for g in fields(cls)} if cls is not None else {}
        f = known.get(part)
        if f is None:
            return None
        cls = nested_schema(cls, f) if cls is not None else None
    return f


def _field_type(key: str) -> str:
    """The schema type of a dotted key (``"str"``, ``"int"``, ``"list"`` ...), or ``""``."""
    f = _schema_field(key)
    return "" if f is None else type_name(f)


def _allowed_at(key: str) -> str:
    """What a key's schema allows, in words (``"an integer from 1 to 5200 (weeks)"``)."""
    f = _schema_field(key)
    if f is None:
        return ""
    t = type_name(f)
    meta = dict(f.metadata)
    if t == "int":
        return allowed(meta, "an integer")
    if t == "float":
        return allowed(meta, "a number")
    if t == "bool":
        return "true or false"
    if t == "list":
        return list_example(f)
    return ""


def shell_quoted(key: str, value: str) -> str:
    """``KEY=VALUE`` as typed in a shell so that Hydra reads VALUE as one quoted string.

    Hydra's override grammar reads anything inside quotes literally (``out='a,b'``); the
    shell needs the quotes kept, so the whole override is quoted again for the shell.
    """
    import shlex

    q = "'" if "'" not in value or '"' in value else '"'
    # Inside quotes Hydra reads \<quote> as the quote; backslashes before a quote (or the
    # closing one) are doubled.
    body = re.sub(
        r"(\\*)(" + q + r"|$)",
        lambda m: m.group(1) * 2 + ("\\" + q if m.group(2) else ""),
        value,
    )
    hydra = q + body + q
    if not any(c in hydra for c in "$`\\!"):
        return f'{key}="{hydra.replace(chr(34), chr(92) + chr(34))}"'
    return shlex.quote(f"{key}={hydra}")


def _top_level_comma(value: str) -> bool:
    depth, quote = 0, ""
    for c in value:
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c in "[{(":
            depth += 1
        elif c in "]})":
            depth -= 1
        elif c == "," and depth == 0:
            return True
    return False


def _balance(value: str) -> tuple[str, str]:
    """The value with its unmatched brackets closed (or opened), and what was wrong."""
    pairs = {"[": "]", "{": "}", "(": ")"}
    stack: list[str] = []
    out: list[str] = []
    why = ""
    for c in value:
        if c in pairs:
            stack.append(c)
        elif c in pairs.values():
            while stack and pairs[stack[-1]] != c:
                why = why or f"a {stack[-1]!r} has no matching {pairs[stack[-1]]!r}"
                out.append(pairs[stack.pop()])
            if stack:
                stack.pop()
            else:
                opener = next(o for o, cl in pairs.items() if cl == c)
                why = why or f"a {c!r} has no matching {opener!r}"
                out.insert(0, opener)
        out.append(c)
    while stack:
        why = why or f"a {stack[-1]!r} has no matching {pairs[stack[-1]]!r}"
        out.append(pairs[stack.pop()])
    return "".join(out), why


def unreadable_override(override: str, multirun: bool = False) -> ConfigError:
    """One line for an override Hydra cannot read, naming the key and how to fix it.

    Args:
        override: The override as typed (``out=a,b``, ``out=résultats``, ``x=[1,2``).
        multirun: Whether ``-m`` was given (then a comma is a sweep, not an error).

    Returns:
        The error to raise: what could not be read, why, and the override to type instead.
    """
    key, _, value = override.partition("=")
    bare = key.lstrip("+~")
    t = _field_type(bare)
    what = f"{bare}: could not read the value {value!r}"
    is_text = t in ("str", "")
    fix = f"quote it: {shell_quoted(key, value)}"
    unmatched = {o: value.count(o) - value.count(c) for o, c in ("[]", "{}", "()")}
    quotes = [q for q in "'\"" if value.count(q) % 2]
    bad = [c for c in value if c not in _UNQUOTED and c not in "[]{}(),'\"="]
    if quotes and (value.startswith(("'", '"')) or value.endswith(("'", '"'))):
        inner = value.strip("'\"")
        return ConfigError(
            f"{what} (a {quotes[0]} quote is not closed); "
            f"close it, or quote the whole value: {shell_quoted(key, inner)}"
        )
    if t in ("list", "dict") and any(unmatched.values()):
        import shlex

        fixed, why = _balance(value)
        return ConfigError(f"{what} ({why}); close it: {shlex.quote(f'{key}={fixed}')}")
    bad += quotes
    if bad:
        why = f"{bad[0]!r} cannot be read without quotes"
    elif "=" in value:
        why = "'=' cannot be read without quotes"
    elif any(unmatched.values()):
        o = next(b for b, n in unmatched.items() if n)
        why = f"{o!r} is not balanced" if unmatched[o] > 0 else "a bracket is not balanced"
    elif _top_level_comma(value) and not multirun:
        sweep = f"carenet run -m {key}={value}"
        if is_text:
            return ConfigError(
                f"{what} (a comma separates values to sweep: add -m to sweep them, as in "
                f"{sweep}); to use it as one value, {fix}"
            )
        return ConfigError(
            f"{what} (a comma separates values to sweep); to sweep them, add -m ({sweep})"
        )
    else:
        why = "Hydra's override grammar does not allow it"
    if not is_text:
        allowed = _allowed_at(bare)
        return ConfigError(f"{what} ({why}); expected {allowed or 'a value of type ' + t}")
    return ConfigError(f"{what} ({why}); {fix}")


def parse_readable(parser: Any, overrides: list[str], multirun: bool) -> list[Any]:
    """Parse overrides with Hydra's grammar, or say in one line which one it cannot read.

    Args:
        parser: Hydra's ``OverridesParser``.
        overrides: The overrides as typed.
        multirun: Whether ``-m`` was given; without it a sweep (``seed=1,2``) is refused.

    Returns:
        The parsed overrides.

    Raises:
        ConfigError: From :func:`unreadable_override`, or for a sweep without ``-m``.
    """
    try:
        parsed = parser.parse_overrides(overrides)
    except Exception:
        for ov in overrides:
            try:
                parser.parse_overrides([ov])
            except Exception:
                raise unreadable_override(ov, multirun) from None
        raise
    if not multirun:
        for ov in parsed:
            if ov.is_sweep_override():
                if _top_level_comma(ov.input_line.split("=", 1)[1]):
                    raise unreadable_override(ov.input_line)
                key = ov.key_or_group
                raise ConfigError(
                    f"{key}: {ov.input_line.split('=', 1)[1]!r} is a sweep; add -m "
                    f"(carenet run -m {ov.input_line})"
                )
    return parsed


def split_overrides(
    parsed: list[Any], is_group: Callable[[str], bool]
) -> tuple[list[str], list[Any]] | None:
    """Split parsed overrides into those that shape composition and plain value settings.

    A *value* override sets a key that is not a config group to a value that is not a
    mapping (``seed=3``, ``population.size=50000``, or ``+replication=0`` for a new key):
    Hydra applies it to the composed configuration after composition, so it can be
    applied to a copy of a configuration composed without it. Every other override (a
    group choice, ``++``/``~``, a ``@package``, a dict value, anything under ``hydra``)
    is *fixed*: it shapes composition itself.

    Args:
        parsed: Overrides parsed by Hydra's ``OverridesParser``, in the user's order.
        is_group: Whether a key names a config group.

    Returns:
        ``(fixed input lines, value overrides)``, or None when a value override touches a
        key that a fixed non-group override also touches (then the order in which Hydra
        applies them matters, and the caller must compose everything together).
    """
    fixed: list[str] = []
    values: list[Any] = []
    fixed_keys: list[str] = []
    for ov in parsed:
        key = ov.key_or_group
        group = is_group(key)
        if (
            not (ov.is_delete() or ov.is_force_add())
            and ov.package is None
            and not ov.is_sweep_override()
            and not ov.is_hydra_override()
            and not isinstance(ov.value(), dict)
            and not group
        ):
            values.append(ov)
            continue
        fixed.append(ov.input_line)
        if not ov.is_hydra_override() and not group:
            fixed_keys.append(key)
    for ov in values:
        k = ov.key_or_group
        for f in fixed_keys:
            if k == f or k.startswith(f + ".") or f.startswith(k + "."):
                return None
    return fixed, values


def has_interpolation(x: Any) -> bool:
    """Whether plain (unresolved) configuration data holds an OmegaConf interpolation."""
    if isinstance(x, dict):
        return any(has_interpolation(v) for v in x.values())
    if isinstance(x, list):
        return any(has_interpolation(v) for v in x)
    return isinstance(x, str) and "${" in x


_SCALARS = (bool, int, float, str, type(None))


def apply_values(data: dict[str, Any], values: list[Any]) -> dict[str, Any] | None:
    """Apply Hydra value overrides to a copy of a composed configuration as plain dicts.

    Equal to Hydra's own ``OmegaConf.update`` of each override on the composed (untyped)
    configuration wherever this function answers; it declines (returns None) wherever a
    plain-dict update could differ: a key that is not already there, a container on either
    side, or a string holding an interpolation. ``data`` itself must hold no
    interpolation (see :func:`has_interpolation`), so that no other value depends on the
    ones set here.

    Args:
        data: The composed configuration, plain dicts (not modified).
        values: Value overrides from :func:`split_overrides`.

    Returns:
        A new plain configuration, or None.
    """
    out = plain_copy(data)
    for ov in values:
        value = ov.value()
        if not isinstance(value, _SCALARS) or (isinstance(value, str) and "${" in value):
            return None
        parts = str(ov.key_or_group).split(".")
        node: Any = out
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return None
        if ov.is_add():  # +key=value: only where nothing is there yet (Hydra's rule)
            if node.get(parts[-1]) is not None:
                return None  # Hydra refuses it; let Hydra say so
        elif isinstance(node.get(parts[-1], {}), dict | list):
            return None  # missing (get's default is a dict) or a container
        node[parts[-1]] = value
    return out


_LAST_BASES: dict[tuple[str, ...], dict[str, Any]] = {}
"""The interpolation-free compositions of the latest :func:`compose_many` call, by fixed
overrides (see :func:`composed_base`)."""


def composed_base(fixed: tuple[str, ...]) -> dict[str, Any] | None:
    """The composition of these fixed overrides from the latest :func:`compose_many` call.

    A sweep's plan composes each set of group choices just before the sweep launches; the
    launcher, in the same process, reuses it instead of composing it again.

    Args:
        fixed: Fixed overrides (see :func:`split_overrides`), none under ``hydra``.

    Returns:
        The plain configuration (not to be modified), or None if it was not composed.
    """
    return _LAST_BASES.get(tuple(fixed))


def compose_many(combos: list[list[str]]) -> list[dict[str, Any]]:
    """Compose several override lists into plain dicts, as :func:`compose` does each.

    Hydra composes once per distinct set of *fixed* overrides (group choices and the like,
    see :func:`split_overrides`); the value settings of each list are then applied to a
    copy of that composition (:func:`apply_values`, or Hydra's own override code where
    that declines), so each result equals ``compose(overrides)`` (tested). A sweep of 40
    seeds composes once instead of 40 times. Each list may choose its model
    (``model=NAME``); lists of one model are composed in one Hydra session.

    Args:
        combos: One list of Hydra override strings per configuration.

    Returns:
        The composed configurations, in order.

    Raises:
        ConfigError: At the first list with an unknown key, option or bad syntax.
    """
    split = [split_model(list(c)) for c in combos]
    for selector, overrides in split:
        _check_group_choices(overrides, selector)
    results: list[dict[str, Any] | None] = [None] * len(combos)
    _LAST_BASES.clear()
    for selector in dict.fromkeys(sel for sel, _ in split):
        index = [i for i, (sel, _) in enumerate(split) if sel == selector]
        done = _compose_model(selector, [split[i][1] for i in index])
        for i, data in zip(index, done, strict=True):
            if selector:
                data[MODEL_KEY] = selector
            results[i] = data
    return results  # type: ignore[return-value]


def _compose_model(selector: str, combos: list[list[str]]) -> list[dict[str, Any]]:
    """:func:`compose_many` for override lists of one model."""
    import copy

    from hydra import compose as hydra_compose
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    name = primary_config(selector)[1]
    results: list[dict[str, Any]] = []
    bases: dict[tuple[str, ...], Composition] = {}
    _SESSION_SCHEMA.append(run_schema(selector))
    try:
        with _hydra_session(selector) as loader:
            repo = loader.repository
            parser = OverridesParser.create()
            for overrides in combos:
                overrides = [_into_list_item(ov) for ov in overrides]
                try:
                    parsed = parse_readable(parser, list(overrides), multirun=False)
                except ConfigError:
                    raise
                except Exception as exc:
                    raise _compose_error(exc) from None
                try:
                    split = split_overrides(parsed, repo.group_exists)
                    if split is None:
                        cfg = hydra_compose(config_name=name, overrides=list(overrides))
                        results.append(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
                        continue
                    fixed, values = split
                    base = bases.get(tuple(fixed))
                    if base is None:
                        base = bases[tuple(fixed)] = Composition(
                            hydra_compose(config_name=name, overrides=fixed)
                        )
                        if base.plain is not None:
                            _LAST_BASES[tuple(fixed)] = base.plain
                    data = apply_values(base.plain, values) if base.plain is not None else None
                    if data is None:
                        cfg = copy.deepcopy(base.cfg)
                        ConfigLoaderImpl._apply_overrides_to_config(values, cfg)
                        data = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
                    results.append(data)  # type: ignore[arg-type]
                except ConfigError:
                    raise
                except Exception as exc:  # Hydra raises several types; all become one line.
                    raise _explained(exc, loader, name, list(overrides)) from None
    except ConfigError:
        raise
    except Exception as exc:  # Hydra raises several types; all become one line.
        raise _compose_error(exc) from None
    finally:
        _SESSION_SCHEMA.pop()
    return results


def check_hydra_overrides(overrides: list[str], selector: str = "") -> None:
    """Compose Hydra's own configuration with these ``hydra`` overrides, or say why not.

    A sweep's launcher and sweeper options live in Hydra's part of the configuration,
    which carenet's composition leaves out; this composes it once, so that an unknown
    launcher, an unknown option or a bad value stops the sweep before anything runs.

    Args:
        overrides: Overrides of ``hydra`` keys and groups (``hydra/launcher=slurm``,
            ``hydra.launcher.n_jobs=4``).
        selector: The model (``""``: the default), whose primary config is composed.

    Raises:
        ConfigError: One line naming the override and what is allowed.
    """
    from hydra import compose as hydra_compose

    name = primary_config(selector)[1]
    with _hydra_session(selector) as loader:
        try:
            hydra_compose(config_name=name, overrides=overrides, return_hydra_config=True)
        except Exception as exc:  # Hydra raises several types; all become one line.
            first = _first_line(exc)
            unknown = _unknown_hydra_option(first, loader)
            if unknown:
                raise unknown from None
            m = re.match(r"Could not override '(hydra\.(launcher|sweeper)\.[^']+)'", first)
            if m:
                groups = [ov for ov in overrides if "/" in ov.split("=", 1)[0]]
                cfg = hydra_compose(name, overrides=groups, return_hydra_config=True)
                node = cfg.hydra[m.group(2)]
                name = cfg.hydra.runtime.choices.get(f"hydra/{m.group(2)}")
                raise ConfigError(
                    f"{m.group(1)}: not an option of hydra/{m.group(2)}={name}; its "
                    "options: " + ", ".join(k for k in node if not str(k).startswith("_"))
                ) from None
            raise _compose_error(exc) from None


def compose(overrides: list[str] | None = None, cache: bool = False) -> dict[str, Any]:
    """Compose ``configs/config.yaml`` with overrides into a plain dict.

    Args:
        overrides: Hydra override strings such as ``"population.size=50000"``.
        cache: Answer from (and write to) the composition cache where it can
            (:mod:`carenet.sim.config_cache`); the result is the same either way.

    Returns:
        The composed configuration as nested dicts and lists.

    Raises:
        ConfigError: If an override names an unknown group option or cannot be parsed.
    """
    overrides = list(overrides or [])
    if not cache or not config_cache.enabled():
        return compose_many([overrides])[0]
    return _cached_compose(overrides)


def _cached_compose(overrides: list[str]) -> dict[str, Any]:
    """:func:`compose` through the composition cache (:mod:`carenet.sim.config_cache`).

    The entry first looked for is the composition of the overrides less the plain value
    settings (``out=``, ``seed=``: :func:`~carenet.sim.config_cache.lift_values`), which
    are then set on it; then that of the whole list. On a miss both compositions are made
    in one Hydra session; the first is written only if setting the values on it gives
    exactly the second (the fresh composition, which is what is returned), else the
    second is written under the whole list's key.
    """
    selector, rest = split_model(overrides)
    _check_group_choices(rest, selector)
    digest = config_cache.sources_digest(
        selector, load_spec(selector).config_package, run_schema(selector)
    )
    kept, lifted = config_cache.lift_values(rest, groups_of(selector))
    tries = [(config_cache.entry_key(digest, kept), lifted)]
    if lifted:
        tries.append((config_cache.entry_key(digest, rest), []))
    for key, values in tries:
        data = config_cache.lookup(key) if key else None
        if data is not None and config_cache.apply_lifted(data, values):
            _LAST_BASES.clear()  # as compose_many leaves it: nothing of an earlier call
            if selector:
                data[MODEL_KEY] = selector
            return data
    model = [f"{MODEL_KEY}={selector}"] if selector else []
    base, full = compose_many([model + kept, overrides])
    entry, data = plain_copy(base), plain_copy(base)
    for d in (entry, data):
        d.pop(MODEL_KEY, None)
    if selector:
        data[MODEL_KEY] = selector
    key = tries[0][0]
    if not (config_cache.apply_lifted(data, lifted) and config_cache.same(data, full)):
        key, entry = tries[-1][0], plain_copy(full)
        entry.pop(MODEL_KEY, None)
    if key:
        config_cache.store(key, entry)
    return full


def load_config(overrides: list[str] | None = None, cache: bool = False) -> Any:
    """Compose and validate a configuration.

    Args:
        overrides: Hydra override strings.
        cache: Use the composition cache (see :func:`compose`); ``carenet run`` does.

    Returns:
        The validated, typed configuration.

    Raises:
        ConfigError: At the first value that is not allowed.
    """
    cfg = validate(compose(overrides, cache=cache))
    check_out_path(cfg.out)
    return cfg


def check_out_path(out: str) -> None:
    """Refuse an ``out`` folder that cannot be made because a part of its path is a file.

    Raises:
        ConfigError: Naming ``out``, its value and the file in the way.
    """
    if not out:
        return
    path = Path(out).expanduser()
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise ConfigError(
                    f"out: {out!r} is inside {str(parent)!r}, which is a file, not a folder; "
                    "give a folder path"
                )
            return


# --- validation -----------------------------------------------------------------------


def validate(data: dict[str, Any]) -> Any:
    """Check a composed configuration and return it typed.

    The top-level ``model`` key, if there, chooses the model (see
    :mod:`carenet.sim.modelspec`); the rest is checked against its schema and run keys,
    then by the model's own rules across fields (``spec.check``).

    Args:
        data: Nested dicts as produced by :func:`compose` (or written by hand).

    Returns:
        The typed configuration (an instance of the model's schema).

    Raises:
        ConfigError: At the first value that is not allowed, naming key, value and rule.
    """
    data = dict(data) if isinstance(data, dict) else data
    selector = ""
    if isinstance(data, dict) and MODEL_KEY in data:
        selector = str(data.pop(MODEL_KEY) or "")
        selector, _ = split_model([f"{MODEL_KEY}={selector}"]) if selector else ("", [])
    spec = load_spec(selector)
    cfg = typed(run_schema(selector), data, "", spec.length_note)
    spec.check(cfg)
    return cfg


def to_dict(cfg: Any) -> dict[str, Any]:
    """Return the configuration as plain nested dicts (for manifests and hashing).

    A model other than the default is named under ``model``.
    """
    out = asdict(cfg)
    selector = selector_of(cfg)
    if selector:
        out[MODEL_KEY] = selector
    return out
