"""What the Build screen's status line says about the current build, at each point of its life."""

from __future__ import annotations

from textual.content import Content

from sa_tui.build_state import BuildState
from sa_tui.data import wrap_ref
from sa_tui.widgets.influence import influence_lines


def status_text(build: BuildState, width: int, tall: bool) -> Content:
    """The status of ``build`` for a panel ``width`` cells wide; on a ``tall`` screen a finished
    build also says where its results went and how to build again."""
    elapsed = f"{build.elapsed():.0f} s"
    run = f"run {build.run_id[:8]}" if build.run_id else ""
    if build.status == "idle":
        return Content.styled("Ready. ctrl+r starts a build with the settings on the left.", "dim")
    if build.status in ("starting", "running"):
        shots = f"shots {', '.join(build.shots)}  " if build.shots else ""
        text = Content.assemble(
            (f"{build.status} ", "bold $stage-active"),
            (f"{elapsed}  {run}  ", ""),
            (shots, "dim"),
            ("ctrl+x cancels", "dim italic"),
        )
        if build.last_output:
            text = Content("\n").join(
                [text, Content.styled("last answer " + build.last_output[-120:], "dim")]
            )
        return text
    if build.status == "cancelling":
        return Content.assemble(
            ("cancelling… ", "bold $warning"),
            (f"{elapsed}  the worker stops at its next check", "dim"),
        )
    if build.status == "done":
        return _done_text(build, elapsed, run, width, tall)
    if build.status == "cancelled":
        return Content.assemble(
            ("cancelled ", "bold $warning"),
            (f"after {elapsed}. ctrl+r starts again; finished steps are reused.", ""),
        )
    return Content.assemble(("failed ", "bold $error"), build.error)


def _done_text(build: BuildState, elapsed: str, run: str, width: int, tall: bool) -> Content:
    parts: list[Content] = [Content.assemble(("done ", "bold $success"), f"in {elapsed}  {run}")]
    for saved in build.saved:
        acc = saved.get("accuracy")
        version = saved.get("version")
        ref = (
            f"{saved.get('lineage')}@v{version}"
            if version is not None
            else str(saved.get("lineage"))
        )
        parts.append(
            Content.assemble(
                (f"{saved.get('method')}: ", "bold"),
                (
                    f"accuracy {acc:.3f}" if isinstance(acc, (int, float)) else "",
                    "$success",
                ),
                f" (n={saved.get('n')})",
            )
        )
        # saved as: the name on lines of its own, broken only between its parts
        lines = wrap_ref(ref, width, indent="    ")
        lines[0] = "  → " + lines[0][4:]
        parts += [Content.styled(line, "$accent") for line in lines]
        measured = build.influence.get(str(saved.get("method")), {}).get("shots")
        if measured:  # --influence: which shot helps, which hurts (on dev)
            parts.append(Content("    ") + influence_lines("", measured))
    if tall:  # on a short screen the room goes to the shots
        parts.append(
            Content.styled(
                "→ saved as. 3: Runs & Prompts; ctrl+r: build again (reuses stored work)",
                "dim",
            )
        )
    return Content("\n").join(parts)
