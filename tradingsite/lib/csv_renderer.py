import csv
import io
from typing import Any

from rest_framework.renderers import BaseRenderer


class CsvRenderer(BaseRenderer):
    """Renders a list of flat dicts as CSV; the view sets `header` on the renderer context."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if not isinstance(data, list):  # an error body
            data = [data.get("error", data)] if isinstance(data, dict) else [{"value": data}]
        header = (renderer_context or {}).get("csv_header") or (list(data[0]) if data else [])
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(data)
        return out.getvalue().encode()
