"""The Hydra app behind sweeps: a thin shell that hands each job to the Hydra-free core.

:func:`launch` runs a Hydra multirun (``@hydra.main`` with ``--multirun``) over
``configs/``; Hydra's sweeper expands the overrides and the chosen launcher (``basic``,
``joblib`` or any installed one such as submitit or Ray) calls :func:`task` once per job.
:func:`task` only turns Hydra's job configuration into a
:class:`~carenet.sim.sweep.RunSpec` (:func:`run_spec`) and calls
:func:`carenet.sim.sweep.execute_run`, so everything that matters is testable without
Hydra, and the numbers do not depend on which launcher ran a job. ``task`` is a
module-level function, so launchers can pickle it. carenet's own ``local`` launcher (the
default) builds the same :class:`~carenet.sim.sweep.RunSpec` with :func:`run_spec`
without going through Hydra's per-job machinery and :func:`task`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .sweep import RunSpec


def quote(value: str) -> str:
    """Quote a string for a Hydra override value (paths may hold ``,`` ``=`` or spaces)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def run_spec(data: dict[str, Any], overrides: Sequence[str], one_at_a_time: bool) -> RunSpec:
    """The :class:`~carenet.sim.sweep.RunSpec` of one Hydra job.

    Args:
        data: The job's resolved configuration (plain dicts), with the hidden
            ``replication`` key that carenet's sweeps add; it is taken out here.
        overrides: The job's overrides; ``replication`` and ``out`` are left out of the
            record (the run's own folder says where it is).
        one_at_a_time: Whether runs go one at a time in this process (then a progress bar
            over weeks is shown, if asked for and stderr is a terminal).
    """
    from .sweep import REP_KEY, RunSpec

    data = dict(data)
    rep = int(data.pop(REP_KEY, 0))
    kept = tuple(
        str(o) for o in overrides if str(o).split("=", 1)[0].lstrip("+~") not in (REP_KEY, "out")
    )
    progress = bool(data.get("progress")) and one_at_a_time and sys.stderr.isatty()
    return RunSpec(config=data, replication=rep, overrides=kept, progress=progress)


def task(cfg: Any) -> dict[str, Any]:
    """Hydra task function: one (scenario, replication) of a sweep.

    Args:
        cfg: The job's composed configuration (an OmegaConf ``DictConfig``).

    Returns:
        What :func:`carenet.sim.sweep.execute_run` returns.
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from .sweep import execute_run

    data = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(data, dict)
    hc = HydraConfig.get()
    # Step bars only when runs go one at a time in this process, in a terminal.
    one_at_a_time = str(hc.launcher.get("_target_", "")).endswith(".BasicLauncher")
    return execute_run(run_spec(data, hc.overrides.task, one_at_a_time))


def launch(overrides: list[str], model: str = "") -> None:
    """Run a Hydra multirun of :func:`task` with these overrides (Hydra syntax).

    Args:
        overrides: The job and ``hydra`` overrides.
        model: The model's selector (``""``: the default model).

    Raises:
        SystemExit: When Hydra reports an error itself (it prints the reason).
    """
    import hydra
    from hydra.core.global_hydra import GlobalHydra

    from .config import _register_schemas, primary_config
    from .modelspec import MODEL_KEY, load_spec

    _register_schemas(model)
    module, name = primary_config(model)
    if model and load_spec(model).config_package:  # its own config.yaml does not name it
        overrides = [*overrides, f"+{MODEL_KEY}={model}"]
    GlobalHydra.instance().clear()
    main = hydra.main(version_base="1.3", config_path=f"pkg://{module}", config_name=name)
    argv = sys.argv
    sys.argv = ["carenet", "--multirun", *overrides]
    try:
        main(task)()
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()
