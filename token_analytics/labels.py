"""A vocabulary whose members people read: a StrEnum with an i18n key per member.

`class Mode(Labelled, prefix="mode.")` gives `Mode.SAAS.message_id == "mode.saas"`; strings.py and
catalogue_zh.py hold the texts, and tests/test_vocabulary.py checks every member has one in both languages.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Labelled(StrEnum):
    """A StrEnum whose members' labels are the messages `<prefix><value>`."""

    def __init_subclass__(cls, *, prefix: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._label_prefix = prefix

    @property
    def message_id(self) -> str:
        """The i18n key of its label."""
        return f"{type(self)._label_prefix}{self.value}"
