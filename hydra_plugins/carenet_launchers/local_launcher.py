"""carenet's local launcher: the runs of a sweep in a pool of processes on this machine.

``hydra/launcher=local`` (the default of ``carenet run -m``) runs the jobs with joblib
(loky processes by default), as Hydra's joblib launcher does, but without Hydra's per-job
machinery: Hydra's launchers hand every job to ``hydra.core.utils.run_job``, which copies
the whole configuration three times and sets Hydra's global state, about 60 ms a job, and
joblib then ships the configuration objects to the worker. This launcher composes each
job's configuration in the parent (with carenet's sweeper's
:class:`~hydra_plugins.carenet_launchers.sweeper.PlannedConfigLoader`, so a sweep composes
once per set of group choices), turns it into the plain
:class:`~carenet.sim.sweep.RunSpec` that :func:`carenet.sim.app.task` would build, and
sends that to :func:`carenet.sim.sweep.execute_run`, the function every launcher ends in.
The numbers are the same whichever launcher runs a job (tested).

What it does not do, unlike Hydra's launchers: create a working folder per job, configure
Hydra's job logging, call Hydra's job callbacks, or set Hydra's per-job global state (so a
``${hydra:job.num}`` interpolation in a carenet configuration would see the sweep's, not
the job's). carenet's sweeps turn all of these off anyway (see
:func:`carenet.sim.sweep.launcher_overrides`); use ``hydra/launcher=joblib`` or ``basic``
where they are wanted.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher

from .base import KeepsContext
from .sweeper import job_data

log = logging.getLogger(__name__)


@dataclass
class LocalLauncherConf:
    """``hydra/launcher=local``.

    Attributes:
        n_jobs: Worker processes; ``-1`` uses every core, ``1`` runs the jobs one at a time
            in this process (with a progress bar over weeks in a terminal).
        backend: joblib backend: ``loky`` (processes, the default), ``multiprocessing`` or
            ``threading``.
    """

    _target_: str = "hydra_plugins.carenet_launchers.local_launcher.LocalLauncher"
    n_jobs: int = -1
    backend: str = "loky"


class LocalLauncher(KeepsContext, Launcher):
    """Hydra launcher: carenet runs in joblib workers, without Hydra's per-job machinery.

    Args:
        n_jobs: Worker processes (joblib's ``n_jobs``).
        backend: joblib backend.
    """

    def __init__(self, n_jobs: int = -1, backend: str = "loky") -> None:
        from carenet.sim.sweep import check_backend, check_n_jobs

        check_n_jobs(str(n_jobs))
        check_backend(str(backend))
        self.n_jobs = int(n_jobs)
        self.backend = str(backend)

    def _specs(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int, one_at_a_time: bool
    ) -> Iterator[Any]:
        from carenet.sim.app import run_spec

        assert self.config is not None and self.hydra_context is not None
        for i, overrides in enumerate(job_overrides):
            idx = initial_job_idx + i
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            data = job_data(self.hydra_context.config_loader, self.config, overrides)
            yield run_spec(data, overrides, one_at_a_time=one_at_a_time)

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        """Run the jobs and wait for all of them.

        Args:
            job_overrides: One list of overrides per job.
            initial_job_idx: Index of the first job (Hydra numbers jobs across batches).

        Returns:
            One completed JobReturn per job, in job order, holding what
            :func:`carenet.sim.sweep.execute_run` returned.
        """
        from joblib import Parallel, delayed, parallel_config

        from carenet.sim.sweep import execute_run, ignore_sigint

        assert self.config is not None
        setup_globals()
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        serial = self.n_jobs == 1
        log.info(f"carenet local launcher: {len(job_overrides)} jobs, n_jobs={self.n_jobs}")
        specs = self._specs(job_overrides, initial_job_idx, one_at_a_time=serial)
        if serial:
            values = [execute_run(spec) for spec in specs]
        else:
            # Workers ignore SIGINT: Ctrl-C reaches the whole process group, and only the
            # sweep's own process should answer it (it stops the workers); a worker that
            # took it between two runs would print a multiprocessing traceback.
            extra = {"initializer": ignore_sigint} if self.backend == "loky" else {}
            with parallel_config(backend=self.backend, **extra):
                parallel = Parallel(n_jobs=self.n_jobs)
                values = list(parallel(delayed(execute_run)(spec) for spec in specs))
        returns = []
        for overrides, value in zip(job_overrides, values, strict=True):
            ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED, task_name="task")
            ret.return_value = value
            returns.append(ret)
        sys.stderr.flush()
        return returns
