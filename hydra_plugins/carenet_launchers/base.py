"""What carenet's launchers share: keeping what Hydra hands them before it launches."""

from __future__ import annotations

from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class KeepsContext:
    """Mixin for a Hydra ``Launcher``: :meth:`setup` keeps the context, task and config.

    Not a Hydra plugin itself (Hydra's plugin scan registers only plugin subclasses).
    """

    hydra_context: HydraContext | None = None
    task_function: TaskFunction | None = None
    config: DictConfig | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        """Keep what the jobs need (called by Hydra before ``launch``)."""
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function
