"""carenet's sweeper: Hydra's basic sweeper, composing each job's configuration cheaply.

Three costs of Hydra's own sweep machinery are removed; the sweep's expansion, ordering
and batching are the basic sweeper's own, and every job's configuration is the one Hydra
would compose (a test compares them tree by tree).

1. Hydra's :class:`BasicSweeper` composes the configuration of every job of a batch once
   before handing the batch to the launcher (``validate_batch_is_legal``), to catch bad
   overrides early. carenet's sweep plan (:func:`carenet.sim.sweep.plan_sweep`) has
   already composed and validated every combination, so this sweeper skips it.
2. Every launcher (basic, joblib, submitit, carenet's Ray) composes each job's
   configuration from scratch (``load_sweep_config``), about 0.2 s a job. The sweeper
   hands the launcher a :class:`PlannedConfigLoader`, which composes once per distinct set
   of group choices in each process and applies each job's plain value settings
   (``seed=3``, ``population.size=50000``) to a copy, with Hydra's own override code.
   carenet's ``local`` launcher asks it for plain data instead
   (:meth:`PlannedConfigLoader.load_sweep_data`), which reuses the sweep plan's own
   composition and needs no OmegaConf copy at all.
3. A job that would do nothing (its run already finished in the sweep folder, or a
   replication index beyond its scenario's ``replications``) is not launched at all, so
   a resumed sweep spends no SLURM array task, Ray task or process on it.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper, BasicSweeperConf
from hydra.core.config_loader import ConfigLoader
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import HydraContext, RunMode, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from carenet.sim.config import Composition

_BASES: dict[tuple[str, str, tuple[str, ...]], Composition] = {}
"""This process's compositions, keyed by (sweep token, config name, fixed overrides)."""

_SPLITS: dict[tuple[str, tuple[str, ...]], Any] = {}
"""This process's parsed job overrides, keyed by (sweep token, hydra + job overrides): the
sweeper reads each job's configuration to leave out finished runs, and the launcher again
to run it; Hydra's override parser (about 10 ms a job) then runs once."""


def task_data(cfg: DictConfig) -> dict[str, Any]:
    """A job's own configuration (a copy nobody else holds) less ``hydra``, as plain data."""
    with open_dict(cfg):
        del cfg["hydra"]
    data = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(data, dict)
    return data  # type: ignore[return-value]


def job_data(loader: ConfigLoader, master_config: DictConfig, job: Sequence[str]) -> dict[str, Any]:
    """A job's configuration less ``hydra``, as plain data, from whichever loader it has.

    carenet's :class:`PlannedConfigLoader` answers from the plan's composition; another
    sweeper's loader composes with Hydra. Duck-typed: Hydra's plugin scan executes plugin
    modules again, so a class imported here may not be the one the sweeper instantiated.
    """
    load_data = getattr(loader, "load_sweep_data", None)
    if load_data is not None:
        return load_data(master_config, job)
    return task_data(loader.load_sweep_config(master_config, list(job)))


@dataclass
class CarenetSweeperConf(BasicSweeperConf):
    """Schema of ``hydra/sweeper=carenet``: the basic sweeper's options."""

    _target_: str = "hydra_plugins.carenet_launchers.sweeper.CarenetSweeper"


_IS_GROUP: dict[str, dict[str, bool]] = {}
"""Whether each key is a config group, by sweep token (one sweep's choices are fixed)."""

_PARSED: dict[tuple[str, str], Any] = {}
"""This process's parsed override strings, keyed by (sweep token, override)."""


def _parse_each(token: str, lines: Sequence[str]) -> list[Any]:
    """Hydra's parse of each override, each distinct string parsed once per sweep.

    Hydra's ``parse_overrides`` parses every string on its own (with the same errors for
    one as for a list), and the jobs of a sweep share all their strings but the swept
    ones: a sweep of 1,000 seeds parses the base overrides once, not 1,000 times.
    """
    for old in [k for k in _PARSED if k[0] != token]:
        del _PARSED[old]
    for old in [k for k in _IS_GROUP if k != token]:
        del _IS_GROUP[old]
    parser = None
    out = []
    for line in lines:
        ov = _PARSED.get((token, line))
        if ov is None:
            parser = parser or OverridesParser.create()
            ov = _PARSED[(token, line)] = parser.parse_overrides([line])[0]
        out.append(ov)
    return out


class PlannedConfigLoader(ConfigLoader):
    """A config loader that composes each distinct set of group choices once per process.

    It wraps Hydra's own loader and delegates everything to it except
    :meth:`load_sweep_config`. It is pickled with the launcher's context to worker
    processes; each process keeps its compositions in a module-level cache under this
    sweep's token, so a worker that runs many jobs composes once.

    Args:
        inner: Hydra's config loader.
        token: Identifies the sweep; compositions of another sweep are never reused.
    """

    def __init__(self, inner: ConfigLoader, token: str | None = None) -> None:
        self.inner = inner
        self.token = token or uuid.uuid4().hex

    def _is_group(self, key: str, choices: Any) -> bool:
        """Whether a key names a config group, asked once per key and sweep.

        A ``DictConfig`` lookup and the repository's search cost about 3 ms a job.
        """
        memo = _IS_GROUP.setdefault(self.token, {})
        if key not in memo:
            repo = getattr(self.inner, "repository", None)
            memo[key] = key in choices or bool(repo is not None and repo.group_exists(key))
        return memo[key]

    def _split(self, master_config: DictConfig, sweep_overrides: Sequence[str]) -> Any:
        from carenet.sim.config import split_overrides

        hydra_ovs = OmegaConf.to_container(master_config.hydra.overrides.hydra)
        assert isinstance(hydra_ovs, list)
        lines = (*map(str, hydra_ovs), *map(str, sweep_overrides))
        key = (self.token, lines)
        if key not in _SPLITS:
            for old in [k for k in _SPLITS if k[0] != self.token]:
                del _SPLITS[old]
            parsed = _parse_each(self.token, lines)
            choices = master_config.hydra.runtime.choices
            _SPLITS[key] = parsed, split_overrides(parsed, lambda k: self._is_group(k, choices))
        return _SPLITS[key]

    @staticmethod
    def _planned(fixed: list[str]) -> dict[str, Any] | None:
        """The sweep plan's own composition of these choices, when this process made one.

        The task part of a composition does not depend on ``hydra`` overrides, except
        ``hydra.searchpath`` (more config sources), so it is used only without that.
        """
        from carenet.sim.config import composed_base
        from carenet.sim.sweep import is_hydra_override

        if any(ov.lstrip("+~").startswith("hydra.searchpath") for ov in fixed):
            return None
        return composed_base(tuple(ov for ov in fixed if not is_hydra_override(ov)))

    def _base(self, master_config: DictConfig, fixed: list[str]) -> Composition:
        name = str(master_config.hydra.job.config_name)
        key = (self.token, name, tuple(fixed))
        base = _BASES.get(key)
        if base is None:
            for old in [k for k in _BASES if k[0] != self.token]:
                del _BASES[old]
            cfg = self.inner.load_configuration(
                config_name=name, overrides=fixed, run_mode=RunMode.RUN
            )
            base = _BASES[key] = Composition(cfg)
        return base

    def load_sweep_config(
        self, master_config: DictConfig, sweep_overrides: list[str]
    ) -> DictConfig:
        """The job's configuration, equal to Hydra's ``load_sweep_config``.

        Falls back to Hydra's own composition whenever a job's overrides cannot be split
        into fixed ones and plain values (see :func:`carenet.sim.config.split_overrides`).
        """
        parsed, split = self._split(master_config, sweep_overrides)
        if split is None:
            return self.inner.load_sweep_config(master_config, sweep_overrides)
        fixed, values = split
        cfg = copy.deepcopy(self._base(master_config, fixed).cfg)
        ConfigLoaderImpl._apply_overrides_to_config(values, cfg)
        app = [ov for ov in parsed if not ov.is_hydra_override()]
        with open_dict(cfg.hydra):
            cfg.hydra.overrides.task = [ov.input_line for ov in app]
            cfg.hydra.job.override_dirname = get_overrides_dirname(
                overrides=app,
                kv_sep=cfg.hydra.job.config.override_dirname.kv_sep,
                item_sep=cfg.hydra.job.config.override_dirname.item_sep,
                exclude_keys=cfg.hydra.job.config.override_dirname.exclude_keys,
            )
        OmegaConf.copy_cache(from_config=master_config, to_config=cfg)
        return cfg

    def load_sweep_data(
        self, master_config: DictConfig, sweep_overrides: Sequence[str]
    ) -> dict[str, Any]:
        """The job's configuration without the ``hydra`` node, resolved, as plain dicts.

        Equal to ``OmegaConf.to_container`` of :meth:`load_sweep_config` less ``hydra``,
        but without OmegaConf copies wherever the job's value settings can be applied to
        plain dicts (:func:`carenet.sim.config.apply_values`): about 1 ms a job instead of
        about 20.
        """
        from carenet.sim.config import apply_values

        parsed, split = self._split(master_config, sweep_overrides)
        if split is not None:
            fixed, values = split
            plain = self._planned(fixed)
            if plain is None:
                plain = self._base(master_config, fixed).plain
            data = apply_values(plain, values) if plain is not None else None
            if data is not None:
                return data
        return task_data(self.load_sweep_config(master_config, list(sweep_overrides)))

    # Everything else is Hydra's.
    def load_configuration(self, *args: Any, **kwargs: Any) -> DictConfig:  # noqa: D102
        return self.inner.load_configuration(*args, **kwargs)

    def get_search_path(self) -> Any:  # noqa: D102
        return self.inner.get_search_path()

    def get_sources(self) -> Any:  # noqa: D102
        return self.inner.get_sources()

    def list_groups(self, parent_name: str) -> Any:  # noqa: D102
        return self.inner.list_groups(parent_name)

    def get_group_options(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        return self.inner.get_group_options(*args, **kwargs)

    def compute_defaults_list(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        return self.inner.compute_defaults_list(*args, **kwargs)


class CarenetSweeper(BasicSweeper):
    """The basic sweeper, trusting carenet's plan and composing jobs once per process."""

    def setup(
        self,
        *,
        hydra_context: HydraContext,
        task_function: TaskFunction,
        config: DictConfig,
    ) -> None:
        """Set up as the basic sweeper does, with a :class:`PlannedConfigLoader`."""
        context = HydraContext(
            config_loader=PlannedConfigLoader(hydra_context.config_loader),
            callbacks=hydra_context.callbacks,
        )
        super().setup(hydra_context=context, task_function=task_function, config=config)

    def split_arguments(  # type: ignore[override]
        self, overrides: list[Any], max_batch_size: int | None
    ) -> list[list[list[str]]]:
        """The basic sweeper's batches, without the jobs that would do nothing.

        A job whose run is already finished in the sweep folder (a resumed sweep), or
        whose replication index is beyond its scenario's ``replications``, is left out
        (:func:`carenet.sim.sweep.needs_running`), so launchers spend no SLURM array task,
        Ray task or worker start on it. Empty batches are dropped.
        """
        batches = BasicSweeper.split_arguments(overrides, max_batch_size)
        kept = [[job for job in batch if self._needed(job)] for batch in batches]
        return [batch for batch in kept if batch]

    def _needed(self, job: Sequence[str]) -> bool:
        from carenet.sim.app import run_spec
        from carenet.sim.sweep import needs_running

        assert self.config is not None and self.hydra_context is not None
        data = job_data(self.hydra_context.config_loader, self.config, job)
        return needs_running(run_spec(data, job, one_at_a_time=False))

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Skip: :func:`carenet.sim.sweep.plan_sweep` composed and validated every job."""
        return None
