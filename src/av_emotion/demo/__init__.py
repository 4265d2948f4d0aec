"""The web demo: `av-emotion demo --model DIR_OR_REPO`, a Gradio app, also a Hugging Face Space's `app.py`.

`inference` holds what one upload runs (no Gradio: it is tested on its own); `app` builds the Gradio page and
imports Gradio, an optional dependency (`pip install "av-emotion[demo]"`); `space` writes the files of a Space
that runs the demo for a Hub model (`av-emotion push --with-demo`). Importing this package imports neither Gradio
nor torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEMO_LIMITS", "DemoModel", "DemoResult", "build_demo", "launch_demo", "space_files"]


def __getattr__(name: str) -> Any:
    # Lazy: `av_emotion.demo.build_demo` imports Gradio only when it is asked for.
    if name in ("DEMO_LIMITS", "DemoModel", "DemoResult"):
        from av_emotion.demo import inference

        return getattr(inference, name)
    if name in ("build_demo", "launch_demo"):
        from av_emotion.demo import app

        return getattr(app, name)
    if name == "space_files":
        from av_emotion.demo.space import space_files

        return space_files
    raise AttributeError(f"module 'av_emotion.demo' has no attribute {name!r}")
