"""The tiny model fixtures of the model tests, shared here."""

from tests.models.conftest import rule_view, tiny_config, tiny_model  # noqa: F401
