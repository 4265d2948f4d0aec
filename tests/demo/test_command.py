"""`av-emotion demo`: its options, what it passes to `launch_demo`, and Gradio imported by this command only."""

from __future__ import annotations

import builtins
import subprocess
import sys

import pytest

from av_emotion.cli import main
from av_emotion.demo.inference import DEMO_LIMITS


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    options = ("--model", "--host", "--port", "--share", "--max-duration", "--max-upload-mb", "--device")
    for option in (*options, "--min-face-fraction"):
        assert option in text
    assert 'pip install "av-emotion[demo]"' in text
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "demo" in capsys.readouterr().out


def test_arguments_reach_launch_demo(monkeypatch):
    import av_emotion.demo.app

    calls = []
    monkeypatch.setattr(av_emotion.demo.app, "launch_demo", lambda model, **kwargs: calls.append((model, kwargs)))
    assert main(["demo", "--model", "user/repo"]) == 0
    assert calls[-1] == (
        "user/repo",
        {
            "host": "127.0.0.1",
            "port": 7860,
            "share": False,
            "limits": DEMO_LIMITS,
            "device": None,
            "min_face_fraction": None,
        },
    )
    argv = ["demo", "--model", "m", "--host", "0.0.0.0", "--port", "8000", "--share", "true"]
    assert main([*argv, "--max-duration", "60", "--max-upload-mb", "10", "--device", "1"]) == 0
    model, kwargs = calls[-1]
    assert (kwargs["host"], kwargs["port"], kwargs["share"], kwargs["device"]) == ("0.0.0.0", 8000, True, 1)
    assert kwargs["limits"].max_duration_s == 60 and kwargs["limits"].max_file_bytes == 10 * 1024**2
    assert kwargs["limits"].max_pixels == DEMO_LIMITS.max_pixels
    assert main(["demo", "--model", "m", "--min-face-fraction", "0.5"]) == 0
    assert calls[-1][1]["min_face_fraction"] == 0.5


def test_bad_share_value_and_unloadable_model(monkeypatch, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--model", "m", "--share", "maybe"])
    assert exit_info.value.code == 2 and "expected true or false, got 'maybe'" in capsys.readouterr().err
    assert main(["demo", "--model", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("av-emotion demo: error: cannot serve") and "Traceback" not in err
    assert main(["demo", "--model", "m", "--min-face-fraction", "1.5"]) == 2
    assert "--min-face-fraction must be a share of frames in [0, 1]" in capsys.readouterr().err


def test_without_gradio_the_command_says_how_to_install_it(monkeypatch, capsys):
    real_import = builtins.__import__

    def no_gradio(name, *args, **kwargs):
        if name == "gradio" or name.startswith("gradio."):
            raise ImportError("No module named 'gradio'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "gradio", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_gradio)
    assert main(["demo", "--model", "m"]) == 2
    assert 'Gradio is not installed; pip install "av-emotion[demo]"' in capsys.readouterr().err


@pytest.mark.slow  # a fresh interpreter importing torch + transformers takes 10-25 s on a shared CPU
def test_gradio_is_imported_by_the_demo_command_only():
    code = (
        "import sys, av_emotion, av_emotion.demo, av_emotion.demo.inference, av_emotion.demo.space\n"
        "from av_emotion.cli import build_parser\n"
        "build_parser(None)\n"
        "assert 'gradio' not in sys.modules, 'gradio imported'\n"
        "from av_emotion.demo import build_demo\n"
        "assert 'gradio' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
