"""The Python module (import seedforge) against the stage1 tool and the reference decoder.

Run by CTest (label python) with PYTHONPATH=build/python, STAGE1_BIN and the
data folder in the environment (tests/python/CMakeLists.txt).
"""

import copy
import errno
import importlib.util
import json
import os
import subprocess

import pytest
import torch

import seedforge

DATA = os.environ.get("SEEDFORGE_DATA") or os.environ["SEEDFORGE_DATA_DEFAULT"]
STAGE1 = os.environ["STAGE1_BIN"]
SOURCE = os.environ["SEEDFORGE_SOURCE_DIR"]
MODEL = os.path.join(DATA, "models", "stories260K", "stories260K.bin")
VALID = os.path.join(DATA, "text", "tinystories", "valid.txt")

# The C++ tests' tiny config (tests/pipeline/pipeline_test_util.h) on one
# thread, so that two runs are bit-identical whatever the machine.
TINY = {
    "bitnet": {"lr": 0.002, "max_steps": 4, "batch_size": 2, "grad_accum": 1, "seq_len": 64,
               "activation_bits": 8, "checkpoint_every": 0, "seed": 7},
    "seedlm": {"seed_candidates": 512},
    "eval": {"max_docs": 12},
    "hardware": {"threads": 1},
}


def stage1(*args):
    return subprocess.run([STAGE1, *args], capture_output=True, text=True)


def without_measurements(report):
    """The report less what differs between two identical runs: timings, memory, the output path."""
    r = copy.deepcopy(report)
    for key in ("output", "stages", "peak_rss_bytes"):
        r.pop(key)
    for key in ("seconds", "tokens_per_second"):
        r["training"].pop(key)
    return r


@pytest.fixture(scope="module")
def compressed(tmp_path_factory):
    """The tiny config's run through the tool and through run_stage1, and the progress events."""
    d = tmp_path_factory.mktemp("run")
    config = d / "tiny.json"
    config.write_text(json.dumps(TINY))
    cli_out = d / "cli" / "m.stage1.pt"
    cli_out.parent.mkdir()
    r = stage1("--input", MODEL, "--output", str(cli_out), "--config", str(config))
    assert r.returncode in (0, 3), r.stdout + r.stderr  # 3: written, a constraint not met (4 steps)
    py_out = d / "py" / "m.stage1.pt"
    py_out.parent.mkdir()
    events = []
    report = seedforge.run_stage1(MODEL, py_out, config=TINY, progress=events.append)
    return {"cli": cli_out, "py": py_out, "report": report, "events": events, "dir": d}


def test_run_stage1_equals_the_tool(compressed):
    assert compressed["py"].read_bytes() == compressed["cli"].read_bytes()
    cli_report = json.loads((compressed["cli"].parent / "m.stage1.pt.report.json").read_text())
    py_report = compressed["report"]
    assert py_report == json.loads((compressed["py"].parent / "m.stage1.pt.report.json").read_text())
    assert without_measurements(py_report) == without_measurements(cli_report)
    assert py_report["output"] == str(compressed["py"])
    assert py_report["training"]["steps"] == 4


def test_progress_gets_every_step_and_the_log_lines(compressed):
    steps = [e for e in compressed["events"] if e["kind"] == "step"]
    assert [e["step"] for e in steps] == [1, 2, 3, 4]
    assert all(e["total_steps"] == 4 and e["loss"] > 0 and 0 <= e["lambda"] <= 1 for e in steps)
    lines = [e["line"] for e in compressed["events"] if e["kind"] == "line"]
    log = (compressed["py"].parent / "stage1_compression.log").read_text()
    assert any(line.startswith("step 4/4") for line in lines)
    for line in lines:  # each is one of the run's log lines
        assert line in log


def test_a_raising_progress_callable_stops_the_run_and_propagates(tmp_path):
    config = copy.deepcopy(TINY)
    config["bitnet"]["max_steps"] = 50

    class Stop(Exception):
        pass

    def progress(event):
        if event["kind"] == "step" and event["step"] == 2:
            raise Stop("enough")

    with pytest.raises(Stop):
        seedforge.run_stage1(MODEL, tmp_path / "m.stage1.pt", config=config, progress=progress)
    assert not (tmp_path / "m.stage1.pt").exists()
    # Python's own SIGINT handler is back.
    import signal
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_stops_with_a_checkpoint_and_resume_finishes(tmp_path):
    """SIGINT during the run (sent by the progress callable to this process, so the test is
    deterministic): KeyboardInterrupt after a checkpoint, no output; resume=True completes."""
    import signal
    config = copy.deepcopy(TINY)
    config["bitnet"].update({"max_steps": 12, "checkpoint_every": 5,
                             "checkpoint_dir": str(tmp_path / "ck")})
    out = tmp_path / "m.stage1.pt"
    sent = []

    def progress(event):
        if event["kind"] == "step" and event["step"] == 3 and not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt, match="--resume|resume"):
        seedforge.run_stage1(MODEL, out, config=config, progress=progress)
    assert not out.exists()
    assert any((tmp_path / "ck").iterdir())
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    steps = []
    report = seedforge.run_stage1(MODEL, out, config=config, resume=True,
                                  progress=lambda e: e["kind"] == "step" and steps.append(e["step"]))
    assert out.exists() and report["training"]["steps"] == 12
    assert steps and steps[0] > 1 and steps[-1] == 12  # continued, not restarted


def test_dry_run_returns_the_plan(tmp_path):
    plan = seedforge.run_stage1(MODEL, tmp_path / "m.stage1.pt", config=TINY, dry_run=True)
    assert plan["parameters"] > 0 and plan["estimated_output_bytes"] > 0
    assert plan["train_steps"] == 4
    assert any(t["codec"] == "ternary" for t in plan["tensors"])
    assert not (tmp_path / "m.stage1.pt").exists()


def reference_decoder():
    spec = importlib.util.spec_from_file_location("stage1_decode", os.path.join(SOURCE, "python", "stage1_decode.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_load_and_decode_equal_the_reference_decoder_and_the_tool(compressed):
    path = str(compressed["py"])
    want = reference_decoder().decode(path)
    decoded = seedforge.decode(path)
    tensors, config = seedforge.load(path)
    assert set(decoded) == set(want) == set(tensors)
    for name in want:
        assert torch.equal(decoded[name], want[name]), name
        assert torch.equal(tensors[name], want[name]), name
    assert config["hidden_size"] == 64 and config["num_hidden_layers"] == 5
    # Bit-identical to `stage1 decode`.
    out = compressed["dir"] / "decoded.pt"
    r = stage1("decode", path, "--output", str(out))
    assert r.returncode == 0, r.stderr
    tool = torch.load(out, weights_only=True)
    assert set(tool) == set(decoded)
    for name in tool:
        assert torch.equal(tool[name], decoded[name]), name


def test_load_reads_the_original_and_shares_memory_with_the_cpp_side():
    tensors, config, info, addresses = seedforge._core.load(MODEL, True)
    assert info["format"] == "llama2c"
    assert config["vocab_size"] == 512
    assert tensors["model.embed_tokens.weight"].shape == (512, 64)
    for name, t in tensors.items():
        assert t.data_ptr() == addresses[name], name  # the C++ tensor's own memory, not a copy
    # And a write through the Python tensor is seen by the same storage.
    t = tensors["model.norm.weight"]
    view = torch.as_strided(t, t.shape, t.stride())
    t[0] = 42.0
    assert view[0].item() == 42.0


def test_evaluate_equals_stage1_eval_json(compressed):
    path = str(compressed["py"])
    got = seedforge.evaluate(path, text=VALID, max_docs=5)
    r = stage1("eval", "--model", path, "--text", VALID, "--max-docs", "5", "--json", "--no-progress")
    assert r.returncode == 0, r.stderr
    want = json.loads(r.stdout)
    # The engine's sums do not depend on the thread count: every figure is equal.
    for key in ("model", "engine", "text", "documents", "tokens", "perplexity", "top1", "nll_sum"):
        assert got[key] == want[key], key
    assert got["tokens"] > 0


def test_bad_config_raises_value_error_naming_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"bitnet\.no_such_key"):
        seedforge.run_stage1(MODEL, tmp_path / "m.stage1.pt", config={"bitnet": {"no_such_key": 1}})
    with pytest.raises(ValueError, match=r"bitnet\.lr"):
        seedforge.Config.validate({"bitnet": {"lr": -1}})
    with pytest.raises(TypeError):
        seedforge.run_stage1(MODEL, tmp_path / "m.stage1.pt", config=3)
    assert not list(tmp_path.iterdir())


def test_missing_and_corrupt_files_raise_python_errors(tmp_path):
    missing = str(tmp_path / "nope.bin")
    with pytest.raises(FileNotFoundError) as e:
        seedforge.run_stage1(missing, tmp_path / "m.stage1.pt")
    assert e.value.errno == errno.ENOENT and e.value.filename == missing
    with pytest.raises(FileNotFoundError):
        seedforge.load(missing)
    with pytest.raises(FileNotFoundError):
        seedforge.run_stage1(MODEL, tmp_path / "m.stage1.pt", config=str(tmp_path / "none.json"))
    corrupt = tmp_path / "corrupt.stage1.pt"
    corrupt.write_bytes(b"PK\x03\x04" + b"\x00" * 60)
    with pytest.raises(seedforge.InputError, match="corrupt.stage1.pt"):
        seedforge.decode(corrupt)
    assert issubclass(seedforge.InputError, ValueError)


def test_config_helpers_document_every_key():
    defaults = seedforge.Config.defaults()
    keys = {f"{section}.{key}" for section, values in defaults.items() for key in values}
    docs = seedforge.Config.keys()
    assert keys - set(docs) == set(), "keys without a row in docs/CONFIG.md"
    assert "AdamW" in seedforge.Config.doc("bitnet.lr")
    assert seedforge.Config.validate(None) == defaults
    filled = seedforge.Config.validate({"bitnet": {"max_steps": 3}})
    assert filled["bitnet"]["max_steps"] == 3 and filled["bitnet"]["lr"] == defaults["bitnet"]["lr"]


def test_help_explains_the_calls():
    assert "progress" in seedforge.run_stage1.__doc__ and "dry_run" in seedforge.run_stage1.__doc__
    assert "stage1 decode" in seedforge.decode.__doc__
