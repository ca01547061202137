"""Compose a configuration with Hydra and check every value before anything runs.

``load_config(overrides)`` is the one entry point: it composes ``configs/`` with the user's
overrides (Hydra's compose API, so it works from tests and from other programs), then
:func:`validate` turns the result into a typed :class:`~carenet.sim.schema.CarenetConfig`,
raising :class:`ConfigError` with a one-line message naming the key, the value and what is
allowed at the first bad value.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, fields
from importlib import resources
from pathlib import Path
from typing import Any

from .schema import (
    LINES,
    SCHEMAS,
    SERVICE_KINDS,
    STRATA,
    CarenetConfig,
    CostItem,
    ShockConfig,
    field_default,
    plain_copy,
)

GROUPS: tuple[str, ...] = (
    "population",
    "organisations",
    "structure",
    "handoff",
    "health",
    "power_rule",
    "response",
    "costs",
    "scenario",
    "pathways",
)
"""Hydra config groups, each a folder of options under ``configs/``."""


class ConfigError(ValueError):
    """A configuration value is not allowed; the message is one line for the user."""


def group_options(group: str) -> list[str]:
    """Return the option names available for a config group, sorted."""
    folder = resources.files("carenet.configs").joinpath(group)
    names = [
        p.name[: -len(".yaml")]
        for p in folder.iterdir()
        if p.name.endswith(".yaml") and not p.name.startswith("_")
    ]
    return sorted(names)


def _check_group_choices(overrides: list[str]) -> None:
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
        _check_key(key, value)
        if key in GROUPS:
            options = group_options(key)
            if value not in options:
                hint = " (to sweep several, add -m)" if "," in value else ""
                raise ConfigError(
                    f"{key}: {value!r} is not a known option;{_did_you_mean(value, options)} "
                    f"allowed: {', '.join(options)}" + hint
                )


def _did_you_mean(word: str, choices: list[str] | set[str], prefix: str = "") -> str:
    """`` did you mean X?`` for the closest of ``choices`` to ``word``, or an empty string."""
    import difflib

    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" did you mean {prefix}{close[0]}?" if close else ""


def _check_key(key: str, value: str) -> None:
    """Reject an override key that names no parameter, listing the valid keys there."""
    cls: type = CarenetConfig
    parts = key.split(".")
    where = ""
    for i, part in enumerate(parts):
        known = {f.name: f for f in fields(cls)}
        if i == 0 and part in GROUPS and len(parts) == 1:
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
        t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        if t in SCHEMAS and t.endswith("Config"):
            cls = SCHEMAS[t]
            where = ".".join(parts[: i + 1])
            continue
        if t in ("dict", "list"):
            return  # free-form contents are checked by validate()
        if i != len(parts) - 1:
            raise ConfigError(f"{key}: {'.'.join(parts[: i + 1])} is a single value, not a group")
        return


_REGISTERED: list[bool] = []
"""Whether this process has stored the schema nodes (Hydra's ConfigStore is per process)."""


def _register_schemas() -> None:
    """Store each group's schema defaults in Hydra's ConfigStore as untyped nodes.

    Group YAML files list ``_schema`` first in their defaults, so each option only states
    what differs from the schema. The nodes are untyped (not dataclasses) so that type
    and range errors reach carenet's own validator, which words them in one line.
    """
    if _REGISTERED:
        return
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    cs = ConfigStore.instance()
    root = CarenetConfig()
    for group in GROUPS:
        part = getattr(root, group)
        node = OmegaConf.create(asdict(part))
        # Free-form mappings (power_rule.params, costs.items) accept new keys without '+'.
        for f in fields(part):
            if f.type == "dict":
                OmegaConf.set_struct(node[f.name], False)
        cs.store(group=group, name="_schema", node=node)
    _REGISTERED.append(True)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def _hydra_session() -> Iterator[Any]:
    """Hydra's compose API over carenet's configs (cleared afterwards); yields its loader."""
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    _register_schemas()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module="carenet.configs", version_base="1.3"):
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


def _field_type(key: str) -> str:
    """The schema type of a dotted key (``"str"``, ``"int"``, ``"list"`` ...), or ``""``."""
    cls: type | None = CarenetConfig
    t = ""
    for part in key.lstrip("+~").split("."):
        known = {f.name: f for f in fields(cls)} if cls is not None else {}
        if part not in known:
            return ""
        f = known[part]
        t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        cls = SCHEMAS.get(t) if t.endswith("Config") else None
    return t


def _allowed_at(key: str) -> str:
    """What a key's schema allows, in words (``"an integer from 1 to 5200 (weeks)"``)."""
    cls: type = CarenetConfig
    f = None
    for part in key.lstrip("+~").split("."):
        known = {g.name: g for g in fields(cls)}
        f = known.get(part)
        if f is None:
            return ""
        t = f.type if isinstance(f.type, str) else ""
        if t.endswith("Config"):
            cls = SCHEMAS[t]
    if f is None:
        return ""
    t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
    meta = dict(f.metadata)
    if t == "int":
        return _allowed(meta, "an integer")
    if t == "float":
        return _allowed(meta, "a number")
    if t == "bool":
        return "true or false"
    if t == "list":
        return "a list, e.g. [0.1,0.2]"
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
                if "," in ov.input_line:
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
    seeds composes once instead of 40 times.

    Args:
        combos: One list of Hydra override strings per configuration.

    Returns:
        The composed configurations, in order.

    Raises:
        ConfigError: At the first list with an unknown key, option or bad syntax.
    """
    import copy

    from hydra import compose as hydra_compose
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    for overrides in combos:
        _check_group_choices(list(overrides))
    results: list[dict[str, Any]] = []
    bases: dict[tuple[str, ...], Composition] = {}
    _LAST_BASES.clear()
    try:
        with _hydra_session() as loader:
            repo = loader.repository
            parser = OverridesParser.create()
            for overrides in combos:
                parsed = parse_readable(parser, list(overrides), multirun=False)
                split = split_overrides(parsed, repo.group_exists)
                if split is None:
                    cfg = hydra_compose(config_name="config", overrides=list(overrides))
                    results.append(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
                    continue
                fixed, values = split
                base = bases.get(tuple(fixed))
                if base is None:
                    base = bases[tuple(fixed)] = Composition(
                        hydra_compose(config_name="config", overrides=fixed)
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
        raise _compose_error(exc) from None
    return results


def check_hydra_overrides(overrides: list[str]) -> None:
    """Compose Hydra's own configuration with these ``hydra`` overrides, or say why not.

    A sweep's launcher and sweeper options live in Hydra's part of the configuration,
    which carenet's composition leaves out; this composes it once, so that an unknown
    launcher, an unknown option or a bad value stops the sweep before anything runs.

    Args:
        overrides: Overrides of ``hydra`` keys and groups (``hydra/launcher=slurm``,
            ``hydra.launcher.n_jobs=4``).

    Raises:
        ConfigError: One line naming the override and what is allowed.
    """
    from hydra import compose as hydra_compose

    with _hydra_session() as loader:
        try:
            hydra_compose(config_name="config", overrides=overrides, return_hydra_config=True)
        except Exception as exc:  # Hydra raises several types; all become one line.
            first = _first_line(exc)
            m = re.search(r"Could not find '(hydra/[^']+)/([^'/]+)'", first)
            if m:
                options = loader.get_group_options(m.group(1))
                raise ConfigError(
                    f"{m.group(1)}: {m.group(2)!r} is not a known option; allowed: "
                    + ", ".join(o for o in options if not o.startswith(("_", "carenet_")))
                ) from None
            m = re.match(r"Could not override '(hydra\.(launcher|sweeper)\.[^']+)'", first)
            if m:
                groups = [ov for ov in overrides if "/" in ov.split("=", 1)[0]]
                cfg = hydra_compose("config", overrides=groups, return_hydra_config=True)
                node = cfg.hydra[m.group(2)]
                name = cfg.hydra.runtime.choices.get(f"hydra/{m.group(2)}")
                raise ConfigError(
                    f"{m.group(1)}: not an option of hydra/{m.group(2)}={name}; its "
                    "options: " + ", ".join(k for k in node if not str(k).startswith("_"))
                ) from None
            raise _compose_error(exc) from None


def compose(overrides: list[str] | None = None) -> dict[str, Any]:
    """Compose ``configs/config.yaml`` with overrides into a plain dict.

    Args:
        overrides: Hydra override strings such as ``"population.size=50000"``.

    Returns:
        The composed configuration as nested dicts and lists.

    Raises:
        ConfigError: If an override names an unknown group option or cannot be parsed.
    """
    return compose_many([list(overrides or [])])[0]


def load_config(overrides: list[str] | None = None) -> CarenetConfig:
    """Compose and validate a configuration.

    Args:
        overrides: Hydra override strings.

    Returns:
        The validated, typed configuration.

    Raises:
        ConfigError: At the first value that is not allowed.
    """
    cfg = validate(compose(overrides))
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


def _allowed(meta: dict[str, Any], kind: str) -> str:
    unit = f" ({meta['unit']})" if meta.get("unit") else ""
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and hi is not None:
        return f"{kind} from {_fmt(lo)} to {_fmt(hi)}{unit}"
    if lo is not None:
        return f"{kind} >= {_fmt(lo)}{unit}"
    return f"{kind}{unit}"


def _fmt(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _bad(key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"{key}: {value!r} is not allowed; expected {allowed}")


def _number(key: str, value: Any, meta: dict[str, Any], integer: bool) -> float | int:
    kind = "an integer" if integer else "a number"
    given = value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(key, value, _allowed(meta, kind))
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(key, value, _allowed(meta, kind))
    if integer:
        if isinstance(value, float):
            if not value.is_integer():
                raise _bad(key, value, _allowed(meta, kind))
            value = int(value)
    else:
        value = float(value)
    lo, hi = meta.get("lo"), meta.get("hi")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise _bad(key, given, _allowed(meta, kind))
    return value


def _leaf(key: str, value: Any, f: Any) -> Any:
    meta = dict(f.metadata)
    t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if t == "bool":
        if not isinstance(value, bool):
            raise _bad(key, value, "true or false")
        return value
    if t == "int":
        return _number(key, value, meta, integer=True)
    if t == "float":
        return _number(key, value, meta, integer=False)
    if t == "str":
        if not isinstance(value, str):
            choices = meta.get("choices")
            raise _bad(key, value, "one of: " + ", ".join(choices) if choices else "a string")
        choices = meta.get("choices")
        if choices and value not in choices:
            raise _bad(key, value, "one of: " + ", ".join(choices))
        return value
    if t == "list":
        if not isinstance(value, list):
            raise _bad(key, value, "a list, e.g. [0.1,0.2]")
        length = meta.get("length")
        if length is not None and len(value) != length:
            what = f"a list of {length} values"
            if length == len(STRATA):
                what += " (one per stratum: " + ", ".join(STRATA) + ")"
            raise _bad(key, value, what)
        if meta.get("lo") is not None or meta.get("hi") is not None:
            return [_number(f"{key}[{i}]", v, meta, integer=False) for i, v in enumerate(value)]
        return list(value)
    if t == "dict":
        if not isinstance(value, dict):
            raise _bad(key, value, "a mapping")
        return dict(value)
    raise TypeError(f"schema type {t!r} of {key} is not supported")  # pragma: no cover


def _build(cls: type, data: Any, prefix: str) -> Any:
    where = prefix.rstrip(".") or "config"
    if not isinstance(data, dict):
        raise _bad(where, data, f"a mapping of {cls.__name__} keys")
    known = {f.name: f for f in fields(cls)}
    for k in data:
        if k not in known:
            raise ConfigError(
                f"{prefix}{k}: unknown key; valid keys here: {', '.join(sorted(known))}"
            )
    kwargs: dict[str, Any] = {}
    for name, f in known.items():
        key = f"{prefix}{name}"
        value = data.get(name, field_default(f))
        if isinstance(f.type, str) and f.type in SCHEMAS and f.type.endswith("Config"):
            kwargs[name] = _build(SCHEMAS[f.type], value, key + ".")
        else:
            kwargs[name] = _leaf(key, value, f)
    return cls(**kwargs)


def validate(data: dict[str, Any]) -> CarenetConfig:
    """Check a composed configuration and return it typed.

    Args:
        data: Nested dicts as produced by :func:`compose` (or written by hand).

    Returns:
        The typed configuration.

    Raises:
        ConfigError: At the first value that is not allowed, naming key, value and rule.
    """
    cfg: CarenetConfig = _build(CarenetConfig, data, "")
    _cross_checks(cfg)
    return cfg


def _cross_checks(cfg: CarenetConfig) -> None:
    shares = cfg.population.stratum_shares
    if abs(sum(shares) - 1.0) > 1e-6:
        raise _bad("population.stratum_shares", shares, "shares that sum to 1")
    # Cost items.
    items: dict[str, Any] = {}
    for name, item in cfg.costs.items.items():
        items[name] = _build(CostItem, item, f"costs.items.{name}.")
        if not items[name].source or not items[name].price_year:
            raise _bad(f"costs.items.{name}", item, "a cost with its source and price_year stated")
    cfg.costs.items = {k: asdict(v) for k, v in items.items()}
    for required in ("professional_hour", "delayed_discharge_night"):
        if required not in items:
            raise ConfigError(f"costs.items: {required!r} is missing; it is required")
    long_short = ("nonelective_long_stay", "nonelective_short_stay")
    for required in long_short:
        if required not in items:
            raise ConfigError(f"costs.items: {required!r} is missing; it is required")
    _check_pathways(cfg, items)
    # Power rule.
    from carenet.models.power import RULES

    pr = cfg.power_rule
    if not pr._target_ and pr.name not in RULES:
        raise _bad("power_rule.name", pr.name, "one of: " + ", ".join(sorted(RULES)))
    if pr._target_:
        if ":" in pr._target_:
            # Record the file by absolute path, so the manifest reruns from any folder.
            path_s, cls_name = pr._target_.rsplit(":", 1)
            pr._target_ = f"{Path(path_s).expanduser().resolve()}:{cls_name}"
        _check_user_rule(pr._target_, pr.params)
    elif pr.params:
        raise _bad(
            "power_rule.params", pr.params, "no params unless power_rule._target_ names a rule"
        )
    for k in pr.empowering_kinds:
        if k not in SERVICE_KINDS:
            raise _bad("power_rule.empowering_kinds", k, "kinds among: " + ", ".join(SERVICE_KINDS))
    # Shocks.
    shocks = []
    for i, s in enumerate(cfg.scenario.shocks):
        shock = _build(ShockConfig, s, f"scenario.shocks[{i}].")
        for k in shock.kinds:
            if k not in SERVICE_KINDS:
                raise _bad(
                    f"scenario.shocks[{i}].kinds", k, "kinds among: " + ", ".join(SERVICE_KINDS)
                )
        if shock.kind == "budget_cut" and shock.magnitude >= 1.0:
            raise _bad(f"scenario.shocks[{i}].magnitude", shock.magnitude, "a cut below 1")
        shocks.append(asdict(shock))
    cfg.scenario.shocks = shocks
    from carenet.models.shocks import scenario_problem

    problem = scenario_problem(cfg)  # shocks and hubs that cannot happen in this run
    if problem:
        raise ConfigError(problem)


def _check_user_rule(target: str, params: dict[str, Any]) -> None:
    """Load a user-written rule and check its parameters bind to its constructor."""
    import inspect

    from carenet.models.power import load_target

    try:
        cls = load_target(target)
    except ValueError as exc:
        raise _target_error(target, exc) from None
    try:
        inspect.signature(cls).bind(**params)
    except TypeError as exc:
        raise ConfigError(
            f"power_rule.params: {params!r} do not fit "
            f"{cls.__name__}{inspect.signature(cls)}: {exc}"
        ) from None


_TARGET_FORMS = (
    "expected 'path/to/file.py:ClassName' or 'package.module.ClassName' naming a subclass "
    "of carenet.models.power.PowerRule, or power_rule=NAME for a built-in rule"
)


def _target_error(target: str, exc: Exception) -> ConfigError:
    """One line for a ``power_rule._target_`` that cannot be loaded, and what is allowed.

    Names the rules the file or module does hold, where it could be imported.
    """
    import importlib
    import inspect
    import sys

    from carenet.models.power import PowerRule

    key = "power_rule._target_"
    why = _first_line(exc).removeprefix(f"{key}: ")
    module = None
    if ":" in target:
        path_s, name = target.rsplit(":", 1)
        path = Path(path_s).expanduser()
        if not path.is_file():
            what = "is a folder, not a file" if path.is_dir() else "does not exist"
            return ConfigError(f"{key}: {target!r}: the file {str(path)!r} {what}; {_TARGET_FORMS}")
        if not name:
            return ConfigError(f"{key}: {target!r}: no class named after ':'; {_TARGET_FORMS}")
        resolved = path.resolve()
        for mod in list(sys.modules.values()):
            f = getattr(mod, "__file__", None)
            if f and str(getattr(mod, "__name__", "")).startswith("carenet_user_rule_"):
                if Path(f).resolve() == resolved:
                    module = mod
        where = f"the file {str(path)!r}"
    else:
        if "." not in target:
            return ConfigError(f"{key}: {target!r} is not a file or module path; {_TARGET_FORMS}")
        mod_s, name = target.rsplit(".", 1)
        module = sys.modules.get(mod_s)
        if module is None:
            try:
                module = importlib.import_module(mod_s)
            except Exception as err:
                return ConfigError(
                    f"{key}: {target!r}: cannot import the module {mod_s!r} "
                    f"({_first_line(err)}); {_TARGET_FORMS}"
                )
        where = f"the module {mod_s!r}"
    if module is None:  # the file could not be imported
        return ConfigError(f"{key}: {target!r}: {why}; fix the file so that it imports")
    rules = sorted(
        n
        for n, v in vars(module).items()
        if isinstance(v, type) and issubclass(v, PowerRule) and v is not PowerRule
    )
    there = f"rules in it: {', '.join(rules)}" if rules else "it holds no PowerRule subclass"
    obj = getattr(module, name, None)
    if obj is None:
        return ConfigError(
            f"{key}: {target!r}: {where} has no {name!r};{_did_you_mean(name, rules)} {there}"
        )
    kind = "class" if inspect.isclass(obj) else type(obj).__name__
    article = "an" if kind[:1] in "aeiou" else "a"
    return ConfigError(
        f"{key}: {target!r}: {name} is {article} {kind}, not a subclass of "
        f"carenet.models.power.PowerRule; {there}"
    )


def _check_pathways(cfg: CarenetConfig, items: dict[str, Any]) -> None:
    lib = cfg.pathways.library
    if not lib:
        raise _bad("pathways.library", lib, "at least one pathway")
    names = set()
    totals = [0.0] * len(STRATA)
    for i, pw in enumerate(lib):
        key = f"pathways.library[{i}]"
        if not isinstance(pw, dict):
            raise _bad(key, pw, "a mapping with name, weights, qaly_gain, steps")
        extra = set(pw) - {"name", "weights", "qaly_gain", "steps"}
        if extra:
            raise ConfigError(
                f"{key}.{sorted(extra)[0]}: unknown key; valid: name, weights, qaly_gain, steps"
            )
        name = pw.get("name")
        if not isinstance(name, str) or not name or name in names:
            raise _bad(f"{key}.name", name, "a unique, non-empty name")
        names.add(name)
        w = pw.get("weights")
        if not isinstance(w, list) or len(w) != len(STRATA):
            raise _bad(f"{key}.weights", w, "a list of 4 weights (one per stratum)")
        for j, x in enumerate(w):
            if isinstance(x, bool) or not isinstance(x, int | float) or not 0 <= x <= 1e6:
                raise _bad(f"{key}.weights[{j}]", x, "a number >= 0")
            totals[j] += float(x)
        g = pw.get("qaly_gain")
        if isinstance(g, bool) or not isinstance(g, int | float) or not 0 <= g <= 1:
            raise _bad(f"{key}.qaly_gain", g, "a number from 0 to 1 (QALY)")
        steps = pw.get("steps")
        if not isinstance(steps, list) or not steps:
            raise _bad(f"{key}.steps", steps, "a non-empty list of steps")
        for k, st in enumerate(steps):
            sk = f"{key}.steps[{k}]"
            if not isinstance(st, dict) or set(st) != {"line", "weeks", "item", "units"}:
                raise _bad(sk, st, "a mapping with exactly line, weeks, item, units")
            if st["line"] not in LINES:
                raise _bad(f"{sk}.line", st["line"], "one of: " + ", ".join(LINES))
            wk = st["weeks"]
            if isinstance(wk, bool) or not isinstance(wk, int) or not 1 <= wk <= 104:
                raise _bad(f"{sk}.weeks", wk, "an integer from 1 to 104 (weeks)")
            if st["item"] not in items:
                raise _bad(f"{sk}.item", st["item"], "a cost item among: " + ", ".join(items))
            u = st["units"]
            if isinstance(u, bool) or not isinstance(u, int | float) or not 0 <= u <= 1000:
                raise _bad(f"{sk}.units", u, "a number from 0 to 1000 (units per week)")
    for j, t in enumerate(totals):
        if t <= 0:
            raise _bad(
                "pathways.library", f"weights for {STRATA[j]}", "some pathway with weight > 0"
            )


def to_dict(cfg: CarenetConfig) -> dict[str, Any]:
    """Return the configuration as plain nested dicts (for manifests and hashing)."""
    return asdict(cfg)
