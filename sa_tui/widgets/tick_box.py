"""A checkbox whose state reads without colour, as the Build form's method list does.

Textual draws a Checkbox as ``▐X▌`` whether it is ticked or not and tells the two apart by colour
alone. Here a ticked box reads ``[✓]`` and an unticked one ``[ ]``, in any colour mode.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox

from sa_tui.widgets.method_list import TICKED


class TickBox(Checkbox):
    @property
    def _button(self) -> Content:
        style = self.get_visual_style("toggle--button")
        return Content.assemble("[", (TICKED if self.value else " ", style), "]")
