"""Themes and stylesheets of the terminal UI (data only; loaded by ``sa_tui.theming``).

- ``themes.json``: the themes (sa-dark, sa-light, sa-contrast) as data, turned into Textual
  ``Theme`` objects; each also sets the UI's own variables (``heat-*``, ``stage-*``).
- ``app.tcss``: the stylesheet; every colour comes from a theme variable.
"""
