"""carenet.experiments: named experiments, run through the engine like any sweep.

- ``<name>.yaml``: one declaration per experiment (arms, replications, seed, analysis);
  see :mod:`carenet.experiments.declaration`.
- :mod:`carenet.experiments.runner`: plan, run (one sweep per arm), collect and report.
- :mod:`carenet.experiments.command`: ``carenet experiment list|run|report``.
- :mod:`carenet.experiments.common`: what an analysis gets (:class:`Results`) and gives.
- :mod:`carenet.experiments.arrangements`, :mod:`carenet.experiments.patterns`: the
  analyses of the two named experiments.
"""
