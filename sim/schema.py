"""Transitional: carenet's model schema now lives in :mod:`carenet.models.schema`.

The generic parameter machinery is :mod:`carenet.params`. This module re-exports both so
that engine modules keep working while they move to the model spec (issue #11); it goes
once no engine module needs carenet's own schema.
"""

import carenet.models.schema as _model_schema
import carenet.params as _params

globals().update(
    {
        k: v
        for mod in (_params, _model_schema)
        for k, v in vars(mod).items()
        if not k.startswith("__")
    }
)
