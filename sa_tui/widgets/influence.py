"""How a shot's influence (``--influence``, core/influence.py) reads in the UI: a short signed
figure, ``+0.06 helps`` / ``-0.04 hurts`` / ``±0.00``, dimmed when the exact McNemar test on the
dev items cannot tell it from noise (p >= 0.05)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from textual.content import Content

SIGNIFICANCE = 0.05  # as core.influence.SIGNIFICANCE (the UI does not import core's numerics)


def influence_text(shot: Mapping[str, Any]) -> str:
    """``+0.06 helps``, ``-0.04 hurts`` or ``±0.00`` from one shot's influence record."""
    value = float(shot.get("influence") or 0.0)
    if round(value, 2) == 0:
        return "±0.00"
    return f"{value:+.2f} {'helps' if value > 0 else 'hurts'}"


def is_noise(shot: Mapping[str, Any]) -> bool:
    return float(shot.get("p_value", 1.0)) >= SIGNIFICANCE


def influence_figure(shot: Mapping[str, Any]) -> Content:
    """The figure with its evidence: the McNemar p, and ``noise`` when it is not significant."""
    text = influence_text(shot)
    value = float(shot.get("influence") or 0.0)
    p_value = float(shot.get("p_value", 1.0))
    if is_noise(shot):
        style = "dim"
    else:
        style = "bold $success" if value > 0 else "bold $error"
    evidence = f" (p {p_value:.2f}{', noise' if is_noise(shot) else ''})"
    return Content.assemble((text, style), (evidence, "dim"))


def influence_lines(method: str, shots: Sequence[Mapping[str, Any]]) -> Content:
    """One method's influence in a line: ``io influence on 40 dev items (full 0.550): p1 +0.05
    helps (p 0.03), p2 ±0.00 (p 1.00, noise)``."""
    if not shots:
        return Content("")
    first = shots[0]
    parts: list[Content] = [
        Content.assemble(
            (f"{method} " if method else "", "bold"),
            (f"influence on {first.get('n', '?')} dev items", "dim"),
            (f" (full context {float(first.get('accuracy_full', 0.0)):.3f}): ", "dim"),
        )
    ]
    for index, shot in enumerate(shots):
        parts.append(
            Content.assemble(
                ("" if index == 0 else ", ", "dim"),
                (str(shot.get("id", "?")) + " ", "$accent"),
                influence_figure(shot),
            )
        )
    return Content("").join(parts)
