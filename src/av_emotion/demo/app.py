"""The Gradio page of the demo: `build_demo(model)` returns it, `launch_demo(model, host, port)` serves it.

Imports Gradio (the `demo` extra); `av-emotion demo` and a Space's `app.py` are the only callers. One event,
`analyse` (also the HTTP API `/analyse` that `gradio_client` calls), runs with `concurrency_limit=1` on a queue, so
one inference runs at a time per model and the others wait their turn instead of competing for the CPU. Every
failure of an upload ends as a message on the page (the processor's, naming the file and the fix); the traceback of
an unexpected one goes to the server log only, and the server keeps serving.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from av_emotion.demo.inference import DemoModel, DemoResult, user_message
from av_emotion.processing.media import MediaError, MediaLimits

# Gradio phones home at import and launch unless told not to; a demo must work offline (set before the import).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

__all__ = ["build_demo", "launch_demo"]

logger = logging.getLogger(__name__)

# Uploads are faces and voices, personal data: Gradio deletes this app's cached files (uploads and results) older
# than FILES_KEPT_S, checking every FILES_CHECK_S. Our choice: long enough for a visitor to download the PNG.
FILES_KEPT_S = 900
FILES_CHECK_S = 300

# An upload smaller than this cannot hold a playable second of audio or video; the page then suggests recording
# again (our choice: 1 kB, below any real recording, above the empty or 1-byte blobs a failed recording gives).
TRUNCATED_RECORDING_BYTES = 1024

STRIP_FRAMES = 16
"""Thumbnails in the strip of frames the model saw (our choice: two rows of eight on a laptop screen)."""

# Matplotlib's default colour cycle ("tab10"), so each emotion gets its own colour on the chart (Gradio's default
# palette shades one hue).
TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def _limits_text(limits: MediaLimits) -> str:
    return (
        f"Up to {limits.max_duration_s / 60:g} minutes, {limits.max_file_bytes / 1024**2:.0f} MB and frames of "
        f"{limits.max_pixels / 1e6:.1f} megapixels; a longer video: run `av-emotion predict --window` locally. "
        f"Uploads and results are deleted from the server after {FILES_KEPT_S // 60}-"
        f"{(FILES_KEPT_S + FILES_CHECK_S) // 60} minutes."
    )


def _intro(model: DemoModel) -> str:
    labels = ", ".join(model.labels)
    kind = "valence and arousal" if model.pipeline.is_regression else f"one of: {labels}"
    return (
        f"# Audio-video emotion recognition\n"
        f"Model **`{model.name}`** (`{model.model_type}`): for each window of a video it scores {kind}, from the "
        "face and the voice together. Upload or record a video (or an audio file), then press **Analyse**. "
        "Read the limitations at the bottom of the page before you trust an output."
    )


def _status(result: DemoResult, display_name: str) -> str:
    top_label, top_value = next(iter(result.top.items()), (None, None))
    if top_value is None:
        headline = f"**{display_name}**: no prediction (too few frames showed a face)"
    elif result.is_regression:
        values = ", ".join(f"{name} {value:+.2f}" for name, value in result.top.items())
        headline = f"**{display_name}**: {values} (mean over windows)"
    else:
        headline = f"**{display_name}**: most likely **{top_label}** ({top_value:.0%}, mean over windows)"
    details = [
        headline,
        f"Modalities used: **{result.modalities}**. {result.num_windows} window(s) over "
        f"{result.info.duration_s:.1f} s.",
        *result.notes,
    ]
    return "\n\n".join(details)


def _timeline_frame(result: DemoResult) -> Any:
    import pandas as pd

    return pd.DataFrame(result.timeline_rows(), columns=["time", "label", "score"])


def _timeline_png(result: DemoResult, title: str, folder: Path) -> str:
    """Draw the picture of `av-emotion predict --plot` into `folder` for the page to offer; return its path.

    Gradio copies the file into its cache (deleted with the uploads); the copies here older than `FILES_KEPT_S` are
    removed on each call.
    """
    from av_emotion.commands.predict import plot_timeline

    now = time.time()
    for old in folder.glob("*/timeline.png"):
        if now - old.stat().st_mtime > FILES_KEPT_S:
            shutil.rmtree(old.parent, ignore_errors=True)
    path = Path(tempfile.mkdtemp(dir=folder)) / "timeline.png"
    plot_timeline(result.result, path, title=title)
    return str(path)


def _empty_outputs(status: str) -> tuple[Any, ...]:
    return status, None, None, None, []


def make_analyse(model: DemoModel):
    """Return the event handler: `(video, audio, window_s, stride_s) -> (status, scores, timeline, png, crops)`."""
    pictures = Path(tempfile.mkdtemp(prefix="av_emotion_demo_"))

    def analyse(video: str | None, audio: str | None, window_s: float, stride_s: float) -> tuple[Any, ...]:
        source = video or audio
        if not source:
            return _empty_outputs("Upload or record a video (or an audio file) first.")
        display_name = Path(source).name
        try:
            result = model.analyse(source, window_s=window_s, stride_s=stride_s)
        except (MediaError, ValueError, OSError) as error:
            # The processor's message names the file and the fix; shown as it is, with the visitor's file name.
            logger.info("upload refused: %s", error)
            message = f"**Could not analyse this file.** {user_message(error, source, display_name)}"
            size = Path(source).stat().st_size if Path(source).is_file() else None
            if size is not None and size < TRUNCATED_RECORDING_BYTES:
                # Seen with Chromium's recorder under load: the browser hands over a 1-byte "recording".
                message += (
                    f" The upload holds only {size} bytes: if it was a webcam or microphone recording, it did not "
                    "complete; record it again."
                )
            return _empty_outputs(message)
        except Exception as error:  # noqa: BLE001  (the server must stay up; the traceback goes to the log)
            logger.exception("demo failed on %s", source)
            return _empty_outputs(
                f"**The demo failed on {display_name}** ({type(error).__name__}); the details are in the server "
                "log. Try another file."
            )
        scores = None if result.is_regression else result.top
        crops = [(crop.image, crop.caption) for crop in result.strip(STRIP_FRAMES)]
        return (
            _status(result, display_name),
            scores,
            _timeline_frame(result),
            _timeline_png(result, display_name, pictures),
            crops,
        )

    return analyse


def build_demo(
    model: DemoModel | str | Path,
    limits: MediaLimits | None = None,
    device: Any = None,
    min_face_fraction: float | None = None,
) -> gr.Blocks:
    """Build the demo page for `model` (a `DemoModel`, or a local folder / Hub repo id to load).

    A Space's `app.py` is `build_demo("user/repo").launch()`; `launch_demo` adds the host, port and upload limit.
    `min_face_fraction`: windows with fewer frames showing a face get no prediction (see `DemoModel`).
    """
    if not isinstance(model, DemoModel):
        model = DemoModel(model, device=device, limits=limits, min_face_fraction=min_face_fraction)
    regression = model.pipeline.is_regression
    window_max = max(10.0, 4 * model.default_window_s)
    with gr.Blocks(
        title=f"av_emotion demo: {model.name}",
        analytics_enabled=False,
        delete_cache=(FILES_CHECK_S, FILES_KEPT_S),
    ) as demo:
        gr.Markdown(_intro(model), elem_id="intro")
        with gr.Row():
            with gr.Column(scale=1):
                with gr.Tab("Video"):
                    video = gr.Video(
                        sources=["upload", "webcam"],
                        format=None,  # no FFmpeg conversion: the processor reads the upload as it is
                        include_audio=True,
                        label="Video (upload or webcam)",
                        elem_id="video-input",
                    )
                with gr.Tab("Audio only"):
                    audio = gr.Audio(
                        sources=["upload", "microphone"],
                        type="filepath",
                        format=None,
                        label="Audio file (or microphone)",
                        elem_id="audio-input",
                    )
                window = gr.Slider(
                    0.5, window_max, value=model.default_window_s, step=0.5, label="Window (s)", elem_id="window"
                )
                stride = gr.Slider(
                    0.5, window_max, value=model.default_stride_s, step=0.5, label="Stride (s)", elem_id="stride"
                )
                button = gr.Button("Analyse", variant="primary", elem_id="analyse")
                gr.Markdown(_limits_text(model.limits), elem_id="limits")
            with gr.Column(scale=2):
                status = gr.Markdown("Upload or record a video, then press **Analyse**.", elem_id="status")
                scores = gr.Label(
                    num_top_classes=3,
                    label="Top emotions (mean over windows)",
                    visible=not regression,
                    elem_id="scores",
                )
                timeline = gr.LinePlot(
                    x="time",
                    y="score",
                    color="label",
                    x_title="time (s, window centre)",
                    y_title="value" if regression else "probability",
                    y_lim=[-1.0, 1.0] if regression else [0.0, 1.0],
                    color_map={label: TAB10[index % len(TAB10)] for index, label in enumerate(model.labels)},
                    color_title="emotion",
                    label="Timeline",
                    elem_id="timeline",
                )
                png = gr.File(label="Timeline as a PNG (the plot of `av-emotion predict --plot`)", elem_id="png")
        if model.pipeline.processor.video_processor.do_face_crop:
            seen = "What the model saw: the sampled frames, cropped to the face it tracked, with their times"
        else:
            seen = "What the model saw: the sampled frames (this model's processor does not crop faces)"
        crops = gr.Gallery(
            label=seen,
            columns=8,
            height=330,  # two rows of eight thumbnails
            object_fit="contain",
            elem_id="crops",
        )
        gr.Markdown("## Limitations\n\n" + model.limitations, elem_id="limitations")
        # One input at a time: a new video clears the audio file and the other way round, so Analyse never has to
        # guess which of the two the visitor meant.
        for new, other in ((video, audio), (audio, video)):
            for event in (new.upload, new.stop_recording):
                event(lambda: None, outputs=other, queue=False, show_progress="hidden")
        button.click(
            make_analyse(model),
            inputs=[video, audio, window, stride],
            outputs=[status, scores, timeline, png, crops],
            api_name="analyse",
            concurrency_limit=1,  # one inference at a time per model; the queue holds the others
        )
    demo.queue(default_concurrency_limit=1)
    demo.av_emotion_model = model  # for `launch_demo`'s upload limit
    return demo


def launch_demo(
    model: DemoModel | str | Path,
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
    limits: MediaLimits | None = None,
    device: Any = None,
    block: bool = True,
    min_face_fraction: float | None = None,
) -> gr.Blocks:
    """Serve the demo of `model` on `host:port` (share: a public gradio.live link); blocks unless `block=False`."""
    demo = build_demo(model, limits=limits, device=device, min_face_fraction=min_face_fraction)
    model = demo.av_emotion_model
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        max_file_size=model.limits.max_file_bytes,  # Gradio refuses a larger upload before it is stored
        prevent_thread_lock=not block,
        ssr_mode=False,
        show_error=False,
        quiet=not block,
    )
    return demo
