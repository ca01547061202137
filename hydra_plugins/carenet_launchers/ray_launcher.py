"""A Hydra launcher that runs each job of a multirun as one Ray task.

carenet's own launcher on Ray's public API (``ray.init``, ``ray.remote``, ``ray.wait``),
selected with ``hydra/launcher=ray``. It replaces the ``hydra-ray-launcher`` plugin, which
pins ``cloudpickle<3`` (joblib, carenet's default launcher, needs 3) and sets
``object_store_memory`` on every ``ray.init``, which Ray refuses when attaching to a
running cluster; it also drags in boto3 for its AWS launcher. Installed by
``pip install "carenet[ray]"``.

Where the jobs run:

* ``hydra.launcher.ray.init.address`` unset (and no ``RAY_ADDRESS``): Ray starts on this
  machine for the sweep, with ``ray.local`` settings, and stops when the sweep ends.
* ``address=HOST:PORT`` (a head's GCS port), ``auto`` or ``ray://HOST:10001``: the jobs
  go to that cluster; the driver disconnects at the end and leaves the cluster running.
  Clusters with token authentication (``RAY_AUTH_MODE=token``, Ray's default for new
  local clusters since 2.5x) need the same mode and token here (``RAY_AUTH_TOKEN`` or
  ``~/.ray/auth_token``).

Every worker must import carenet (the same version) and see the sweep folder at the same
path: on several machines that means a shared file system. A job runs in the driver's
working directory when that folder exists on the worker, so relative paths in overrides
(such as a user power-rule file) mean what they mean on the command line.

A job that raises comes back as a failed :class:`~hydra.core.utils.JobReturn` after every
other job has finished (carenet's runs never raise: they record their own failures); a job
whose worker dies is retried by Ray (``ray.remote.max_retries``, Ray's default 3), which is
safe because a carenet run skips itself once finished.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from .base import KeepsContext

log = logging.getLogger(__name__)

INSTALL = "pip install 'carenet[ray]'"
"""Install command named when Ray is missing."""


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ImportError(f"hydra/launcher=ray needs Ray: {INSTALL}") from exc
    return ray


def _plain(node: Any) -> dict[str, Any]:
    if node is None:
        return {}
    if isinstance(node, DictConfig):
        data = OmegaConf.to_container(node, resolve=True)
        assert isinstance(data, dict)
        return {str(k): v for k, v in data.items()}
    return dict(node)


def init_arguments(ray_cfg: Any, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The keyword arguments of ``ray.init`` for these settings.

    Args:
        ray_cfg: ``hydra.launcher.ray`` (``init``, ``local``, ``remote``).
        environ: Environment to read ``RAY_ADDRESS`` from (default ``os.environ``).

    Returns:
        ``init`` without an empty ``address``, plus ``local`` when no cluster address is
        given (neither in ``init.address`` nor in ``RAY_ADDRESS``).
    """
    environ = os.environ if environ is None else environ
    init = _plain(ray_cfg.get("init"))
    address = init.pop("address", None)
    if address not in (None, ""):
        init["address"] = str(address)
    elif not environ.get("RAY_ADDRESS"):
        init.update({k: v for k, v in _plain(ray_cfg.get("local")).items() if v is not None})
    return init


def _run_job(
    hydra_context: HydraContext,
    sweep_config: DictConfig,
    task_function: TaskFunction,
    singleton_state: dict[Any, Any],
    cwd: str,
) -> JobReturn:
    """Run one Hydra job inside a Ray worker (the body of the remote task)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import run_job

    setup_globals()
    Singleton.set_state(singleton_state)
    if cwd and os.path.isdir(cwd):
        os.chdir(cwd)
    HydraConfig.instance().set_config(sweep_config)
    return run_job(
        hydra_context=hydra_context,
        task_function=task_function,
        config=sweep_config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


class CarenetRayLauncher(KeepsContext, Launcher):
    """Hydra launcher: one Ray task per job, on this machine or on a Ray cluster.

    Args:
        ray: ``init``, ``local`` and ``remote`` settings (see
            :class:`~hydra_plugins.carenet_launchers.config.RayConf`).
    """

    def __init__(self, ray: DictConfig) -> None:
        self.ray_cfg = ray

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        """Run the jobs as Ray tasks and wait for all of them.

        Args:
            job_overrides: One list of overrides per job.
            initial_job_idx: Index of the first job (Hydra numbers jobs across batches).

        Returns:
            One JobReturn per job, in job order; a job whose task raised (or whose worker
            died past its retries) has status FAILED and raises when its value is read.

        Raises:
            ImportError: If Ray is not installed.
        """
        ray = _import_ray()
        assert self.config is not None
        assert self.hydra_context is not None
        assert self.task_function is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)

        started_here = not ray.is_initialized()
        if started_here:
            kwargs = init_arguments(self.ray_cfg)
            where = kwargs.get("address") or os.environ.get("RAY_ADDRESS") or "this machine"
            log.info(f"Ray launcher: {len(job_overrides)} jobs on {where}")
            ray.init(**kwargs)
        try:
            remote_opts = {k: v for k, v in _plain(self.ray_cfg.get("remote")).items()}
            run_remote = (
                ray.remote(**remote_opts)(_run_job) if remote_opts else ray.remote(_run_job)
            )
            # Put the shared, larger objects in the object store once, not once per job.
            context_ref = ray.put(self.hydra_context)
            task_ref = ray.put(self.task_function)
            state_ref = ray.put(Singleton.get_state())
            cwd = os.getcwd()
            refs = []
            for i, overrides in enumerate(job_overrides):
                idx = initial_job_idx + i
                log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
                sweep_config = self.hydra_context.config_loader.load_sweep_config(
                    self.config, list(overrides)
                )
                with open_dict(sweep_config):
                    sweep_config.hydra.job.id = f"ray_{idx}"
                    sweep_config.hydra.job.num = idx
                refs.append(run_remote.remote(context_ref, sweep_config, task_ref, state_ref, cwd))
            return _gather(ray, refs, job_overrides)
        finally:
            if started_here:
                ray.shutdown()


def _gather(ray: Any, refs: list[Any], job_overrides: Sequence[Sequence[str]]) -> list[JobReturn]:
    """Wait for every task; a failed one becomes a FAILED JobReturn, not an early raise."""
    results: list[JobReturn] = []
    pending = list(refs)
    while pending:
        _, pending = ray.wait(pending, num_returns=len(pending), timeout=None)
    for ref, overrides in zip(refs, job_overrides, strict=True):
        try:
            results.append(ray.get(ref))
        except Exception as exc:  # RayTaskError, WorkerCrashedError, ...
            ret = JobReturn(overrides=list(overrides), status=JobStatus.FAILED)
            ret._return_value = exc
            results.append(ret)
    return results
