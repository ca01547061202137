"""Other models run through carenet's engine: proof that the engine runs any Mesa model.

Each module is a :class:`carenet.spec.MesaSpec` of a model imported from ``mesa.examples``
(not copied): ``carenet run model=boltzmann``, ``carenet run model=schelling``.
"""
