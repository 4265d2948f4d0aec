"""Take the README's screenshot of the web demo: a trained model, a video whose emotion changes, headless Chromium.

    av-emotion quickstart --output-dir /tmp/quickstart      # a trained AVT-CA model and its synthetic corpus
    OMP_NUM_THREADS=1 PYTHONPATH=src python docs/demo_screenshot.py --quickstart /tmp/quickstart --out docs/demo.png

The video is five clips of one held-out synthetic actor (fold 0 tests actors 1 and 2), one emotion each, joined
into one file, so the timeline shows the emotion changing. The page is served by `av_emotion.demo.launch_demo` on
127.0.0.1, driven by Selenium through Debian's `chromium` + `chromedriver`, and saved as a palette PNG. Synthetic
faces only: no real person appears in the picture.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
from pathlib import Path

import av
import numpy as np

EMOTION_CODES = {"neutral": "01", "calm": "02", "happy": "03", "sad": "04", "angry": "05", "fearful": "06"}
EMOTION_CODES.update({"disgust": "07", "surprised": "08"})


def join_clips(clips: list[Path], output: Path, sampling_rate: int = 16000) -> Path:
    """Decode `clips` (same frame size and rate) and write them one after the other as one h264 + AAC mp4."""
    with av.open(str(clips[0])) as first:
        stream = first.streams.video[0]
        fps, width, height = int(round(float(stream.average_rate))), stream.width, stream.height
    with av.open(str(output), mode="w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream("aac", rate=sampling_rate)
        audio.layout = "mono"
        samples_written = 0
        for clip in clips:
            with av.open(str(clip)) as source:
                for frame in source.decode(video=0):
                    image = frame.to_ndarray(format="rgb24")
                    container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            with av.open(str(clip)) as source:
                resampler = av.AudioResampler(format="flt", layout="mono", rate=sampling_rate)
                chunks = [
                    piece.to_ndarray().reshape(-1)
                    for frame in source.decode(audio=0)
                    for piece in resampler.resample(frame)
                ]
                wave = np.concatenate(chunks).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(wave[None, :], format="flt", layout="mono")
            frame.sample_rate, frame.pts = sampling_rate, samples_written
            samples_written += len(wave)
            container.mux(audio.encode(frame))
        container.mux(video.encode())
        container.mux(audio.encode())
    return output


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def screenshot(model: Path, video: Path, output: Path, window_s: float, stride_s: float, width: int) -> None:
    """Serve the demo of `model`, analyse `video` in Chromium and save the page down to the limitations."""
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    from av_emotion.demo.app import launch_demo

    port = free_port()
    demo = launch_demo(model, host="127.0.0.1", port=port, block=False, device="cpu")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},1500"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(driver, 300)
        file_input = wait.until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#video-input input[type=file]"))
        )
        for slider, value in (("window", window_s), ("stride", stride_s)):
            box = driver.find_element(By.CSS_SELECTOR, f"#{slider} input[type=number]")
            box.send_keys(Keys.CONTROL, "a")
            box.send_keys(f"{value:g}", Keys.ENTER)
        file_input.send_keys(str(video))
        wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#video-input video")))
        driver.find_element(By.ID, "analyse").click()
        wait.until(lambda d: "most likely" in d.find_element(By.ID, "status").text)
        # Let the chart finish drawing, then capture the whole page down to the limitations heading.
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#timeline canvas, #timeline svg"))
        height = driver.execute_script(
            "return document.getElementById('limitations').getBoundingClientRect().top + window.scrollY + 160"
        )
        driver.set_window_size(width, int(height))
        raw = output.with_suffix(".raw.png")
        driver.save_screenshot(str(raw))
    finally:
        driver.quit()
        demo.close()
    image = Image.open(raw).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(output, optimize=True)
    raw.unlink()
    print(f"wrote {output} ({output.stat().st_size / 1024:.0f} kB, {image.width}x{image.height})")


def main() -> None:
    """Join the clips and take the screenshot, as the module docstring says."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quickstart", type=Path, required=True, help="the --output-dir of av-emotion quickstart")
    parser.add_argument("--out", type=Path, default=Path("docs/demo.png"))
    parser.add_argument("--actor", default="01", help="a held-out actor of the quickstart's test split")
    parser.add_argument("--emotions", default="neutral,happy,sad,angry,surprised")
    parser.add_argument("--window", type=float, default=2.5)
    parser.add_argument("--stride", type=float, default=0.5)
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()
    corpus = args.quickstart / "corpus"
    clips = []
    for name in args.emotions.split(","):
        # The strongest intensity there is (RAVDESS has no strong neutral), first statement and repetition.
        found = sorted(corpus.glob(f"01-01-{EMOTION_CODES[name]}-*-01-01-{args.actor}.mp4"))
        if not found:
            raise SystemExit(f"no {name} clip of actor {args.actor} in {corpus}; run av-emotion quickstart first")
        clips.append(found[-1])
    with tempfile.TemporaryDirectory() as folder:
        video = join_clips(clips, Path(folder) / f"actor{args.actor}_{'_'.join(args.emotions.split(','))}.mp4")
        screenshot(args.quickstart / "model", video, args.out, args.window, args.stride, args.width)


if __name__ == "__main__":
    main()
