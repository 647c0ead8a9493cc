"""graphnet-bench: every subcommand runs (tiny sizes, few repeats), prints a table or JSON,
and bad arguments give clear errors."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import graphnet as gn
from graphnet.bench.__main__ import main
from graphnet.bench.timing import Progress, measure

FAST = ["--repeat", "2", "--warmup", "1", "--min-repeat-time", "0.001", "--threads", "1"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _json(capsys, *argv):
    assert main(list(argv) + FAST + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_gemm_json_and_table(capsys):
    doc = _json(capsys, "gemm", "33", "17", "65", "--ta")
    (row,) = doc["rows"]
    assert row["case"] == "gemm 33x17x65 A^T" and row["flops"] == 2 * 33 * 17 * 65
    g = row["graphnet"]
    assert g["min"] <= g["median"] <= g["max"] and g["repeats"] == 2
    assert doc["machine"]["threads"] == 1 and "numpy" in row
    main(["gemm", "--sizes", "16", "32", "--peak", "50"] + FAST)
    out = capsys.readouterr().out
    assert "| gemm 16x16x16 |" in out and "| gemm 32x32x32 |" in out
    assert "peak: 50.0 GFLOP/s, given by --peak" in out and "% peak" in out


def test_gemm_sizes_are_one_product_each(capsys):
    """--sizes M,N,K is one product (the README's 512,512,512 runs once); several are
    separated by spaces; one size S is S x S x S."""
    doc = _json(capsys, "gemm", "--sizes", "8,16,32", "5", "3x7x2", "--no-compare")
    assert [r["case"] for r in doc["rows"]] == ["gemm 8x16x32", "gemm 5x5x5", "gemm 3x7x2"]
    assert [r["flops"] for r in doc["rows"]] == [2 * 8 * 16 * 32, 2 * 125, 2 * 42]
    for bad in (["8,16"], ["8,16,32,4"], ["8,0,3"], ["8,a,3"]):
        with pytest.raises(SystemExit):
            main(["gemm", "--sizes", *bad] + FAST)
        assert "--sizes" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="not both"):
        main(["gemm", "4", "4", "4", "--sizes", "8"] + FAST)


def test_default_peak_is_the_probe_measured_once(capsys, monkeypatch):
    from graphnet.bench import timing
    calls = []
    monkeypatch.setattr(timing, "fma_peak", lambda: calls.append(1) or 321.5)
    monkeypatch.setattr(timing, "_probed_peaks", {})
    for _ in range(2):
        doc = _json(capsys, "gemm", "8", "8", "8", "--no-compare")
        assert doc["peak_gflops"] == 321.5
        assert doc["peak_source"] == (f"measured by the FMA probe ({gn.isa()}, 1 thread(s), "
                                      "best of 7)")
    assert len(calls) == 1
    assert _json(capsys, "gemm", "8", "8", "8", "--no-compare", "--peak", "40")[
        "peak_gflops"] == 40.0 and len(calls) == 1


def test_eltwise_layer_and_peak(capsys):
    row = _json(capsys, "eltwise", "tanh", "1000")["rows"][0]
    assert row["case"] == "tanh n=1,000" and "numpy" in row
    row = _json(capsys, "eltwise", "add", "--sizes", "100")["rows"][0]
    assert row["case"] == "add n=100"
    row = _json(capsys, "layer", "Dense", "--kwargs", '{"units": 8}',
                "--input-shape", "4,16")["rows"][0]
    assert row["flops"] == 2 * 4 * 16 * 8 and "numpy" in row
    doc = _json(capsys, "peak", "--size", "64")
    assert doc["rows"][0]["case"] == "gn_sgemm 64^3" and doc["rows"][0]["gflops"] > 0
    assert doc["peak_source"].startswith("measured by the FMA probe") and doc["peak_gflops"] > 0


def test_models_builtin_saved_and_compiled(capsys, tmp_path):
    doc = _json(capsys, "model", "mnist_mlp", "--batch", "2", "--no-compare")
    assert doc["rows"][0]["case"] == "mnist_mlp, batch 2"
    assert doc["rows"][0]["flops"] == 2 * 2 * (784 * 512 + 512 * 512 + 512 * 10)
    model = gn.Sequential([gn.Input((5,)), gn.layers.Dense(3, activation="relu")], name="small")
    model.save(str(tmp_path / "small.graphnet"))
    model.export(str(tmp_path / "small.gnx"), batch_size=4)
    doc = _json(capsys, "model", str(tmp_path / "small.graphnet"), "--sizes", "1,3")
    assert [r["case"] for r in doc["rows"]] == ["small, batch 1", "small, batch 3"]
    doc = _json(capsys, "model", str(tmp_path / "small.gnx"))
    assert "compiled, batch 4" in doc["rows"][0]["case"]
    model.export(str(tmp_path / "any.gnx"))
    doc = _json(capsys, "model", str(tmp_path / "any.gnx"), "--sizes", "1,5")
    assert [r["case"] for r in doc["rows"]] == ["any.gnx (compiled, batch 1)",
                                               "any.gnx (compiled, batch 5)"]
    with pytest.raises(SystemExit, match="compiled for batch 4 only"):
        main(["model", str(tmp_path / "small.gnx"), "--batch", "2"] + FAST)


def test_conv(capsys):
    from graphnet.ops import all_ops
    if "CONV" not in all_ops():
        with pytest.raises(SystemExit, match="no convolution"):
            main(["conv"] + FAST)
        return
    row = _json(capsys, "conv", "2", "6", "6", "3", "4", "3", "3", "--no-compare")["rows"][0]
    assert row["flops"] == 2 * 2 * 36 * 4 * 9 * 3


def test_bad_arguments(capsys):
    with pytest.raises(SystemExit, match="unknown float elementwise op 'nope'"):
        main(["eltwise", "nope", "10"] + FAST)
    with pytest.raises(SystemExit, match="not valid JSON"):
        main(["layer", "Dense", "--kwargs", "{units", "--input-shape", "2,3"] + FAST)
    with pytest.raises(SystemExit, match="unknown layer 'Dens'"):
        main(["layer", "Dens", "--input-shape", "2,3"] + FAST)
    with pytest.raises(SystemExit, match="cannot build Dense"):
        main(["layer", "Dense", "--kwargs", '{"units": -1}', "--input-shape", "2,3"] + FAST)
    with pytest.raises(SystemExit, match="give M N K"):
        main(["gemm", "1", "2"] + FAST)
    with pytest.raises(SystemExit, match="neither mnist_mlp"):
        main(["model", "nothing_here"] + FAST)
    with pytest.raises(SystemExit):
        main(["gemm", "--peak", "fast"])
    with pytest.raises(SystemExit):
        main([])


def test_timing_and_progress():
    calls = []
    stats = measure(lambda: calls.append(1), repeat=3, warmup=2, min_repeat_time=0.0)
    assert stats["repeats"] == 3 and len(calls) == 2 + 1 + 3 * stats["calls"]

    class Tty:
        text = ""

        def isatty(self):
            return True

        def write(self, s):
            self.text += s

        def flush(self):
            pass
    tty = Tty()
    p = Progress(2, tty)
    p.update("one")
    p.step()
    p.update("two")
    p.close()
    assert "[1/2] one" in tty.text and "[2/2] two" in tty.text and tty.text.endswith("\r")
    quiet = Progress(2, open(os.devnull, "w"))
    quiet.update("x")
    assert not quiet.enabled


def test_module_entry_point_help():
    env = dict(os.environ, PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, "-m", "graphnet.bench", "--help"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0 and "gemm" in result.stdout and "peak" in result.stdout
    np.testing.assert_equal(result.stderr, "")
