"""Training on two processes (`accelerate launch`, CPU, gloo): evaluation, who writes, and resume after SIGKILL.

The runs go through `accelerate launch` as a user starts them on a machine without a GPU
(`ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2`: torchrun starts the processes and
Accelerate joins them with gloo; `--cpu --num_processes 2` would start a single process), with the tiny model
(`tests/training/tiny_launch.py` runs `recipes/train.py` with it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from av_emotion.training.checkpointing import latest_checkpoint
from av_emotion.training.config import config_from_dict
from av_emotion.training.loop import (
    build_dataloader,
    check_launch,
    evaluate_model,
    evaluation_batches,
    launched_without_accelerator,
)
from tests.launching import two_process_launch
from tests.training.conftest import tiny_config_dict

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------------------
# Without processes: how evaluation shares its batches, and the launch checks
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_processes", [1, 2, 3])
@pytest.mark.parametrize("batch_size", [1, 3, 4])
def test_evaluation_batches_score_each_clip_once_in_one_process_batches(num_processes, batch_size):
    for num_clips in range(1, 14):
        one_process = [indices for _, indices in evaluation_batches(num_clips, batch_size)]
        shares = [evaluation_batches(num_clips, batch_size, num_processes, rank) for rank in range(num_processes)]
        # Every process runs the same number of forwards (collective under FSDP)...
        assert len({len(share) for share in shares}) == 1
        kept = {batch_id: indices for share in shares for batch_id, indices in share if batch_id is not None}
        # ... the kept batches are exactly the one-process batches, each once, and hold each clip once.
        assert sorted(kept) == list(range(len(one_process)))
        assert [kept[batch_id] for batch_id in sorted(kept)] == one_process
        assert sorted(index for indices in kept.values() for index in indices) == list(range(num_clips))


def test_evaluation_batches_rejects_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        evaluation_batches(4, 0)
    with pytest.raises(ValueError, match="process_index 2"):
        evaluation_batches(4, 2, num_processes=2, process_index=2)


def test_launch_checks():
    # torchrun started 2 processes, but Accelerate runs each alone: refused, with the command that works.
    with pytest.raises(RuntimeError, match="ACCELERATE_USE_CPU=true accelerate launch --multi_gpu"):
        check_launch(1, {"WORLD_SIZE": "2", "LOCAL_RANK": "0"})
    assert check_launch(2, {"WORLD_SIZE": "2", "LOCAL_RANK": "0"}) is None
    # `accelerate launch --cpu --num_processes 2`: one process (MASTER_ADDR set, no WORLD_SIZE): a warning.
    warning = check_launch(1, {"ACCELERATE_USE_CPU": "True", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"})
    assert warning and "one process" in warning and "--multi_gpu" in warning
    assert check_launch(1, {"ACCELERATE_USE_CPU": "True"}) is None  # `accelerate launch --cpu`: one asked, one run
    assert check_launch(1, {}) is None
    # Several processes on a machine without an accelerator: the CPU backend is chosen for them.
    assert launched_without_accelerator({"WORLD_SIZE": "2"}) == (not torch.accelerator.is_available())
    assert not launched_without_accelerator({"WORLD_SIZE": "1"}) and not launched_without_accelerator({})


def test_resume_on_another_number_of_processes_is_refused(tiny_corpus, tiny_stack, tmp_path):
    import shutil

    from av_emotion.training.loop import train

    config = config_from_dict(tiny_config_dict(tiny_corpus, tmp_path / "run", num_epochs=1))
    train(config, log=lambda line: None)
    checkpoint = latest_checkpoint(tmp_path / "run" / "checkpoints")
    train(config, resume=str(checkpoint), log=lambda line: None)  # the same number of processes: accepted
    # As if a second process had saved its RNG state too.
    shutil.copy(checkpoint / "random_states_0.pkl", checkpoint / "random_states_1.pkl")
    with pytest.raises(ValueError, match=r"saved by a run on 2 process\(es\) and this run has 1.*--num_processes 2"):
        train(config, resume=str(checkpoint), log=lambda line: None)


# ---------------------------------------------------------------------------------------------------
# Two processes
# ---------------------------------------------------------------------------------------------------


def two_process_command(config_path: Path, *extra: str) -> list[str]:
    """The tiny recipe on two CPU processes (`launch_env` sets `ACCELERATE_USE_CPU`)."""
    return two_process_launch(REPO / "tests" / "training" / "tiny_launch.py", "--config", str(config_path), *extra)


def launch_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(ACCELERATE_USE_CPU="true", OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", **extra)
    return env


def run_two_processes(config_path: Path, *extra: str, **env: str) -> str:
    result = subprocess.run(
        two_process_command(config_path, *extra),
        env=launch_env(**env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"two-process run exited {result.returncode}\n{output[-6000:]}")
    return output


def run_config(corpus: Path, output_dir: Path, cache_dir: Path) -> dict:
    """6 actors in 3 folds: train on actors 4-6 (12 clips: 3 steps of 2 x 2 clips), validate on 3, test on 1-2.

    Evaluation batches of 3 split unevenly: validation 4 clips = [3, 1] (one batch each), test 8 clips =
    [3, 3, 2] (process 1 repeats a batch in the second round). Dropout 0.2 draws from the RNG.
    """
    raw = tiny_config_dict(
        corpus,
        output_dir,
        num_epochs=4,
        per_device_eval_batch_size=3,
        checkpoint_every_steps=2,
        keep_last_checkpoints=20,
    )
    raw["data"].update(num_folds=3, cache_dir=str(cache_dir))
    return raw


def write_config(raw: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def two_process_run(small_corpus, tmp_path_factory):
    """One uninterrupted two-process run, recording what each process writes under its output folder."""
    root = tmp_path_factory.mktemp("two_processes")
    raw = run_config(small_corpus, root / "run", root / "cache")
    config_path = write_config(raw, root / "run.yaml")
    records = root / "writes"
    records.mkdir()
    output = run_two_processes(config_path, AV_EMOTION_RECORD_WRITES=str(records))
    return {"root": root, "raw": raw, "output": output, "records": records, "out": root / "run"}


def kill_process_tree(pid: int) -> list[int]:
    """SIGKILL a launcher and every process under it; returns their ids once they are gone (and reaped).

    torchrun starts each worker in a session of its own, so killing the launcher's process group (or the
    launcher alone) leaves the workers training, and writing checkpoints, without it.
    """
    import psutil

    try:
        launcher = psutil.Process(pid)
        processes = [launcher, *launcher.children(recursive=True)]  # the launcher first: no time to react
    except psutil.NoSuchProcess:
        return []
    for each in processes:
        try:
            each.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    gone, alive = psutil.wait_procs(processes, timeout=30)
    assert not alive, f"still running after SIGKILL: {alive}"
    return [each.pid for each in gone]


def read_records(folder: Path, rank: int) -> list[dict]:
    path = folder / f"writes-{rank}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def one_process_evaluation(raw: dict, model_dir: Path, split: str) -> dict:
    """Score the saved weights on `split` in this process (one process), as a single-process run would."""
    from accelerate import Accelerator

    from av_emotion.data.collate import AVEmotionCollator
    from av_emotion.training.data import prepare_data
    from tests.training.tiny_components import TinyAVForClassification, TinyProcessor

    config = config_from_dict(raw)
    accelerator = Accelerator()
    assert accelerator.num_processes == 1
    data = prepare_data(config, TinyProcessor(), main_process_first=accelerator.main_process_first, log=lambda _: 0)
    model = accelerator.prepare(TinyAVForClassification.from_pretrained(model_dir))
    loader = build_dataloader(
        data.splits[split],
        config.training.per_device_eval_batch_size,
        shuffle=False,
        collator=AVEmotionCollator(processor=TinyProcessor(), label_column=config.data.label_column),
        workers=0,
        seed=config.training.seed,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the training processes ran
    try:
        return evaluate_model(model, loader, accelerator, label_names=data.label_names, desc=split).metrics
    finally:
        torch.set_num_threads(threads)


# One two-process launch: about 30-50 s on the 2 shared cores (mostly the launcher's and the processes' imports).
def test_two_processes_evaluate_each_clip_once_and_only_the_main_process_writes(two_process_run, tiny_stack):
    out, raw = two_process_run["out"], two_process_run["raw"]
    results = json.loads((out / "results.json").read_text())
    assert results["split_sizes"] == {"train": 12, "validation": 4, "test": 8}
    # Two processes of 2 clips per step: 3 optimizer steps an epoch, not 6.
    assert results["global_step"] == 12 and len(results["history"]) == 4
    assert sum(map(sum, results["test"]["confusion_matrix"])) == 8

    # (a) The gathered metrics are those of a one-process evaluation of the same weights: each clip counted once
    # (Accelerate's even_batches pads the uneven last batches with clips from the start of the split).
    test = one_process_evaluation(raw, out, "test")
    for key in ("accuracy", "uar", "macro_f1", "confusion_matrix"):
        assert results["test"][key] == test[key], key
    assert results["test"]["loss"] == pytest.approx(test["loss"], rel=1e-6)
    # The kept weights are those of the best validation epoch: its validation record matches too.
    validation = one_process_evaluation(raw, out, "validation")
    best = results["history"][results["best_epoch"] - 1]
    assert best["uar"] == validation["uar"] and best["accuracy"] == validation["accuracy"]
    assert best["loss"] == pytest.approx(validation["loss"], rel=1e-6)

    # (b) Only the main process writes the model, processor, results, card, picture, config and checkpoints.
    main, other = read_records(two_process_run["records"], 0), read_records(two_process_run["records"], 1)
    assert {entry["writer"] for entry in main if "writer" in entry} >= {
        "model.save_pretrained",
        "processor.save_pretrained",
        "write_results",
        "write_model_card_hook",
        "plot_confusion_matrix",
        "save_config",
        "TrainerState.save",
        "atomic_publish",
    }
    assert not [entry for entry in other if "writer" in entry], other[:5]
    # Process 1 writes one file per checkpoint: its own RNG state, into the folder process 0 made and then publishes
    # (Accelerate's save_state also calls os.makedirs(exist_ok=True) on that folder, which exists already).
    other_files = [(entry["event"], Path(entry["path"])) for entry in other if "path" in entry]
    assert other_files, "process 1 recorded nothing: is the recorder working?"
    for event, path in other_files:
        if event == "os.mkdir":
            assert path.name.startswith(".tmp-checkpoint-"), (event, path)
        else:
            assert event == "save" and path.name == "random_states_1.pkl", (event, path)
            assert path.parent.name.startswith(".tmp-checkpoint-"), (event, path)
    assert sum(event == "save" for event, _ in other_files) == 8  # checkpoints at steps 2, 3, 4, 6, 8, 9, 10, 12
    main_files = {Path(entry["path"]).name for entry in main if "path" in entry}
    assert {"model.safetensors", "results.json", "random_states_0.pkl", "trainer_state.json"} <= main_files
    assert "random_states_1.pkl" not in main_files
    checkpoint = out / "checkpoints" / "checkpoint-00000012"
    assert {"random_states_0.pkl", "random_states_1.pkl", "model.safetensors"} <= {p.name for p in checkpoint.iterdir()}
    for name in ("model.safetensors", "config.json", "processor_config.json", "results.json", "confusion_matrix.png"):
        assert (out / name).is_file(), name
    assert "saved model, processor and results" in two_process_run["output"]


# Two more launches (killed, resumed) on top of the module's run: about a minute on the 2 shared cores.
@pytest.mark.slow
def test_two_process_run_killed_with_sigkill_resumes_to_the_same_weights(two_process_run):
    root, reference = two_process_run["root"], two_process_run["out"]
    raw = run_config(Path(two_process_run["raw"]["data"]["root"]), root / "killed", root / "cache")
    config_path = write_config(raw, root / "killed.yaml")
    process = subprocess.Popen(
        two_process_command(config_path),
        env=launch_env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen, run = [], []
    try:
        for line in process.stdout:
            seen.append(line)
            # The mid-epoch checkpoint of epoch 2 (after 1 of its 3 steps).
            if "checkpoint saved:" in line and line.rstrip().endswith("checkpoint-00000004"):
                run = kill_process_tree(process.pid)
                break
        process.wait(timeout=60)
    finally:
        run += kill_process_tree(process.pid) if process.poll() is None else []
    killed = root / "killed"
    assert len(run) >= 3, f"expected the launcher and two workers to be killed, got {run}\n{''.join(seen[-30:])}"
    assert not (killed / "results.json").exists(), "the run finished before it was killed"
    assert latest_checkpoint(killed / "checkpoints").name == "checkpoint-00000004"

    output = run_two_processes(config_path, "--resume")
    assert "resumed from" in output and "checkpoint-00000004" in output

    # Bit for bit (tolerance 0: a deterministic CPU run): the weights after every later checkpoint, the optimizer
    # state of the last one, the final model, and the metrics.
    for relative in [f"checkpoints/checkpoint-{step:08d}/model.safetensors" for step in (6, 8, 12)] + [
        "model.safetensors"
    ]:
        expected, resumed = load_file(reference / relative), load_file(killed / relative)
        assert expected.keys() == resumed.keys()
        different = [key for key in expected if not torch.equal(expected[key], resumed[key])]
        assert not different, f"{relative}: {different}"
    optimizer = [
        torch.load(run / "checkpoints" / "checkpoint-00000012" / "optimizer.bin", weights_only=True)
        for run in (reference, killed)
    ]
    for key, state in optimizer[0]["state"].items():
        for name, value in state.items():
            assert torch.equal(value, optimizer[1]["state"][key][name]), (key, name)
    expected, resumed = (json.loads((run / "results.json").read_text()) for run in (reference, killed))
    assert resumed["history"] == expected["history"] and resumed["test"] == expected["test"]
