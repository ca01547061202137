"""A stand-in launcher that stops a sweep with the install command of a missing plugin."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class MissingLauncher(Launcher):
    """Selected in place of a launcher whose plugin is not installed; launches nothing.

    Args:
        launcher: Name of the launcher asked for (``hydra/launcher=NAME``).
        install: The command that installs it.
        **_: The preset's settings for the real launcher (ignored).
    """

    def __init__(self, launcher: str, install: str, **_: Any) -> None:
        self.launcher = launcher
        self.install = install

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        """Nothing to set up."""

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        """Raise an ImportError that names the install command.

        Raises:
            ImportError: Always.
        """
        raise ImportError(f"hydra/launcher={self.launcher} is not installed: {self.install}")
