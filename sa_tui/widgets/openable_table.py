"""A DataTable whose enter opens the row under the cursor, and says so in the footer."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.widgets import DataTable


class OpenableTable(DataTable[Any]):
    """DataTable's own enter (select the row: ``RowSelected``), shown as "Open". A priority
    binding on the screen would not do: it runs before the table has handled the keys typed
    just before it (``down enter`` in one read would open the row above)."""

    BINDINGS = [Binding("enter", "select_cursor", "Open")]
