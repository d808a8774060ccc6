from typing import Any

from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A string field that takes exactly what was sent: numbers and booleans are refused instead of
    converted, and surrounding whitespace is refused by the field's own rules instead of trimmed
    (`" 0.5"` is not a quantity)."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))
