"""carenet's Hydra launcher presets and its Ray launcher, found by Hydra's plugin scan.

Hydra imports every module under the ``hydra_plugins`` namespace before it composes a
configuration, so this package is where carenet registers what its launcher presets in
``configs/hydra/launcher/`` build on:

* ``hydra/launcher/carenet_ray``: the typed schema of :class:`~.ray_launcher.CarenetRayLauncher`
  (``configs/hydra/launcher/ray.yaml`` extends it, so ``hydra/launcher=ray`` is carenet's
  launcher even where the ``hydra-ray-launcher`` plugin is also installed).
* ``hydra/launcher/carenet_submitit_slurm_base``: the schema of Hydra's submitit SLURM
  launcher (``submitit_slurm``) under a second name, which carenet's preset
  ``configs/hydra/launcher/slurm.yaml`` extends. Without ``hydra-submitit-launcher``
  installed it names a stand-in that stops the sweep with the install command, instead of
  Hydra's "could not find" error.
* ``hydra/launcher/local``: carenet's local launcher
  (:class:`~.local_launcher.LocalLauncher`), joblib workers without Hydra's per-job
  machinery; the sweep's default.
* ``hydra/sweeper/carenet``: Hydra's basic sweeper without its pre-launch composition of
  every job (carenet's sweep plan has already validated them); the sweep's default.
* The OmegaConf resolver ``carenet_env_setup``: the shell line that activates the Python
  environment carenet runs in (used as the SLURM job's setup line).

Nothing here imports Ray or submitit: a plugin module that fails to import makes Hydra
warn on every command, so those imports wait until a launcher actually launches.
"""

from __future__ import annotations

import os
import shlex
import sys

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from .config import RayLauncherConf, missing_submitit_node
from .local_launcher import LocalLauncherConf
from .sweeper import CarenetSweeperConf


def env_setup_line() -> str:
    """Shell line that activates the Python environment this process runs in.

    A virtual environment gives ``source <venv>/bin/activate``; a conda environment
    ``conda activate <prefix>`` (after conda's shell hook); anything else puts the
    interpreter's folder first on ``PATH``. The line is written into SLURM job scripts, so
    the environment must sit at the same path on the compute nodes (a shared file system).

    Returns:
        One line of bash.
    """
    prefix = sys.prefix
    if sys.prefix != sys.base_prefix:
        return f"source {shlex.quote(os.path.join(prefix, 'bin', 'activate'))}"
    if os.environ.get("CONDA_PREFIX") == prefix:
        return f'eval "$(conda shell.bash hook)" && conda activate {shlex.quote(prefix)}'
    return f'export PATH={shlex.quote(os.path.dirname(sys.executable))}:"$PATH"'


OmegaConf.register_new_resolver("carenet_env_setup", env_setup_line, replace=True)

_cs = ConfigStore.instance()
_cs.store(group="hydra/launcher", name="local", node=LocalLauncherConf, provider="carenet")
_cs.store(group="hydra/launcher", name="carenet_ray", node=RayLauncherConf, provider="carenet")
_cs.store(group="hydra/sweeper", name="carenet", node=CarenetSweeperConf, provider="carenet")
try:
    from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf
except ImportError:  # carenet[slurm] not installed: the preset names a stand-in that says so
    _cs.store(
        group="hydra/launcher",
        name="carenet_submitit_slurm_base",
        node=missing_submitit_node(),
        provider="carenet",
    )
else:
    _cs.store(
        group="hydra/launcher",
        name="carenet_submitit_slurm_base",
        node=SlurmQueueConf,
        provider="carenet",
    )
