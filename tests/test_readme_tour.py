"""The README's quick tour runs as written (in a scratch directory)."""
import os
import re

from extras import needs, onnx

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def tour_source():
    text = open(README, encoding="utf-8").read()
    section = text[text.index("## A quick tour"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's tour has no python block"
    return match.group(1)


@needs(onnx)  # the tour exports ONNX
def test_the_tour_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(tour_source(), README + " (quick tour)", "exec"), {"__name__": "tour"})
    printed = capsys.readouterr().out
    assert "Total params" in printed and "rewrites fired" in printed
    assert "1/1" in printed and "━" in printed          # predict(verbose=1)'s bar
    for name in ("mlp.graphnet", "mlp.gnx", "mlp32.gnx", "mlp.onnx", "mlp_c"):
        assert (tmp_path / name).exists(), name
