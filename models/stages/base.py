"""The base of a stage: one step of the week, acting on the model."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from carenet.models.model import CareSystemModel


class Stage:
    """One stage of the week.

    Class attributes:
        name: The stage's name (in the ODD, the bench and timing hooks).
        summary: What it does, in a paragraph (the ODD's process overview lists them).

    Args:
        model: The model the stage acts on.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    def __init__(self, model: CareSystemModel) -> None:
        self.m = model

    def run(self, t: int, rec: dict[str, float]) -> None:
        """Act for week ``t``, counting into ``rec``, the week's record."""
        raise NotImplementedError
