"""The Build form's method list: a SelectionList whose ticks read without colour.

Textual draws every option's toggle as the same ``▐X▌``, ticked or not, and tells them apart
by colour alone; in 16 colours or on a monochrome terminal they look the same. Here a ticked
method shows ``[✓]`` and an unticked one ``[ ]``, in any colour mode.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import SelectionList
from textual.widgets.option_list import OptionDoesNotExist

TICKED = "✓"


class MethodList(SelectionList[str]):
    def render_line(self, y: int) -> Strip:
        line = super().render_line(y)
        try:
            selection = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return line
        segments = list(line)
        if len(segments) < 4:
            return line
        left, inner, right, *rest = segments
        ticked = selection.value in self._selected
        mark = Segment(TICKED if ticked else " ", inner.style)
        return Strip(
            [Segment("[", right.style), mark, Segment("]", right.style), *rest],
            line.cell_length,
        )

    def first_selected_index(self) -> int | None:
        """The index of the first ticked option, if any."""
        for index in range(self.option_count):
            if self.get_option_at_index(index).value in self._selected:
                return index
        return None
