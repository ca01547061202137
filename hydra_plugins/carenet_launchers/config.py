"""Schemas of carenet's launchers (registered in Hydra's ConfigStore by the package)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RayConf:
    """Settings of :class:`~.ray_launcher.CarenetRayLauncher`, under ``hydra.launcher.ray``.

    Attributes:
        init: Keyword arguments of ``ray.init`` on every start. ``address`` picks the Ray
            cluster: ``null`` starts Ray on this machine (unless ``RAY_ADDRESS`` is set),
            ``auto`` attaches to the cluster this machine belongs to, ``HOST:PORT`` to a
            head's GCS address, ``ray://HOST:10001`` through Ray Client.
        local: More ``ray.init`` arguments used only when Ray is started here (no address);
            Ray refuses resource settings such as ``num_cpus`` or ``object_store_memory``
            when it attaches to a running cluster, so they belong here.
        remote: Options of ``ray.remote`` for each run (e.g. ``num_cpus``, ``memory``,
            ``max_retries``); one run is one Ray task.
    """

    init: dict[str, Any] = field(default_factory=lambda: {"address": None})
    local: dict[str, Any] = field(default_factory=lambda: {"include_dashboard": False})
    remote: dict[str, Any] = field(default_factory=lambda: {"num_cpus": 1})


@dataclass
class RayLauncherConf:
    """``hydra/launcher=carenet_ray`` (and carenet's ``ray`` preset, which extends it)."""

    _target_: str = "hydra_plugins.carenet_launchers.ray_launcher.CarenetRayLauncher"
    ray: RayConf = field(default_factory=RayConf)


def missing_submitit_node() -> dict[str, Any]:
    """Launcher node behind carenet's ``slurm`` preset where hydra-submitit-launcher is missing.

    A plain dict (not a schema), so carenet's preset can set the submitit keys on it.
    """
    return {
        "_target_": "hydra_plugins.carenet_launchers.missing.MissingLauncher",
        "launcher": "slurm",
        "install": "pip install 'carenet[slurm]'",
    }
