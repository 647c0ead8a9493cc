"""gn.utils.model_to_dot / plot_model: Keras's labels (against keras's own label maker),
nodes, edges and clusters in graphnet's DOT text, and Graphviz run only when asked for."""
import os
import re
import stat

import numpy as np
import pytest
from extras import compare_with, keras

import graphnet as gn

FLAGS = ("show_layer_names", "show_layer_activations", "show_dtype", "show_shapes",
         "show_trainable")


def _branchy(lib):
    inputs = lib.Input((4,), name="inp")
    left = lib.layers.Dense(3, activation="relu", name="left")(inputs)
    right = lib.layers.Dense(3, name="right", trainable=False)(inputs)
    return lib.Model(inputs, lib.layers.Add(name="sum")([left, right]), name="branchy")


def _nodes(dot):
    """{node id: the layer name and class of its label}."""
    return dict(re.findall(r"(L\d+) \[label=<<table.*?<b>(.*?)</font>", dot))


def _edges(dot, nodes):
    return {(nodes[a].split("<")[0], nodes[b].split("<")[0])
            for a, b in re.findall(r"(L\d+) -> (L\d+)", dot)}


@pytest.mark.parametrize("flags", [dict.fromkeys(FLAGS, True), dict.fromkeys(FLAGS, False),
                                   {"show_layer_names": True, "show_shapes": True,
                                    "show_layer_activations": False, "show_dtype": False,
                                    "show_trainable": True}])
def test_labels_are_keras_labels(flags):
    from graphnet.model_plot import _label
    ours = _branchy(gn)
    for layer in ours.layers:
        label = _label(layer, **flags)
        assert label.startswith("<<table") and label.endswith("</table>>")
        assert ("Input shape" in label) == (flags["show_shapes"] and layer.name != "inp")
    if compare_with(keras, "keras's make_layer_label on the same layers"):
        make_layer_label = keras.src.utils.model_visualization.make_layer_label
        theirs = {layer.name: layer for layer in _branchy(keras).layers}
        for layer in ours.layers:
            assert _label(layer, **flags) == make_layer_label(theirs[layer.name], **flags)


def test_functional_nodes_edges_and_graph_attributes():
    dot = gn.utils.model_to_dot(_branchy(gn), rankdir="LR", dpi=96, splines="curved").to_string()
    assert dot.startswith("digraph G {\n") and dot.endswith("}\n")
    for attribute in ("rankdir=LR;", "dpi=96;", "splines=curved;", "concentrate=true;",
                      "node [shape=record];"):
        assert attribute in dot
    nodes = _nodes(dot)
    assert sorted(nodes.values()) == ["inp</b> (InputLayer)", "left</b> (Dense)",
                                      "right</b> (Dense)", "sum</b> (Add)"]
    assert _edges(dot, nodes) == {("inp", "left"), ("inp", "right"), ("left", "sum"),
                                  ("right", "sum")}
    assert str(gn.utils.model_to_dot(_branchy(gn))).count("->") == 4


def test_sequential_leaves_its_input_layer_out():
    model = gn.Sequential([gn.Input((5,)), gn.layers.Dense(4, name="a"),
                           gn.layers.Dropout(0.1, name="b"), gn.layers.Dense(1, name="c")])
    dot = gn.utils.model_to_dot(model, show_layer_names=False).to_string()
    assert re.findall(r"<b>(\w+)</b>", dot) == ["Dense", "Dropout", "Dense"]
    nodes = {k: v for k, v in re.findall(r"(L\d+) \[label=.*?<b>(\w+)</b>", dot)}
    assert [(nodes[a], nodes[b]) for a, b in re.findall(r"(L\d+) -> (L\d+)", dot)] == \
        [("Dense", "Dropout"), ("Dropout", "Dense")]


def test_nested_models_collapsed_or_expanded():
    inner = _branchy(gn)
    inputs = gn.Input((4,), name="outer_in")
    outputs = gn.layers.Dense(1, name="head")(inner(inputs))
    model = gn.Model(inputs, outputs)
    flat = gn.utils.model_to_dot(model).to_string()
    nodes = _nodes(flat)
    assert "branchy</b> (Functional)" in nodes.values() and "subgraph" not in flat
    assert _edges(flat, nodes) == {("outer_in", "branchy"), ("branchy", "head")}
    expanded = gn.utils.model_to_dot(model, expand_nested=True).to_string()
    assert re.search(r'subgraph cluster_L\d+ \{\n\s+style=dashed; label="branchy"', expanded)
    nodes = _nodes(expanded)
    assert _edges(expanded, nodes) == {("outer_in", "inp"), ("inp", "left"), ("inp", "right"),
                                       ("left", "sum"), ("right", "sum"), ("sum", "head")}
    cluster = gn.utils.model_to_dot(inner, subgraph=True).to_string()
    assert cluster.startswith('subgraph "cluster_branchy" {') and "rankdir" not in cluster


def test_subclassed_model_is_one_node():
    class Doubler(gn.Model):
        def call(self, x):
            return gn.ops.multiply(x, 2.0)
    model = Doubler(name="doubler")
    model.predict(np.ones((2, 3), "float32"), verbose=0)
    dot = gn.utils.model_to_dot(model, show_shapes=True).to_string()
    assert list(_nodes(dot).values()) == ["doubler</b> (Doubler)"] and "->" not in dot


def test_plot_model_writes_dot_text_and_needs_graphviz_for_pictures(tmp_path, monkeypatch):
    model = _branchy(gn)
    assert gn.utils.plot_model(model, to_file=tmp_path / "m.dot", show_shapes=True) is None
    assert open(tmp_path / "m.dot").read() == \
        gn.utils.model_to_dot(model, show_shapes=True, show_layer_names=False).to_string()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ImportError, match="You must install graphviz .*'png'"):
        gn.utils.plot_model(model, to_file=tmp_path / "m.png")
    assert not (tmp_path / "m.png").exists()


def _fake_dot(directory, script):
    directory.mkdir()
    program = directory / "dot"
    program.write_text("#!/bin/sh\n" + script)
    program.chmod(program.stat().st_mode | stat.S_IEXEC)


def test_plot_model_runs_dot_with_the_format_of_the_extension(tmp_path, monkeypatch):
    _fake_dot(tmp_path / "bin", 'echo "format $1"; cat\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    model = _branchy(gn)
    gn.utils.plot_model(model, to_file=tmp_path / "m.ps", rankdir="BT")
    written = open(tmp_path / "m.ps").read()
    assert written.startswith("format -Tps\ndigraph G {") and "rankdir=BT;" in written
    gn.utils.plot_model(model, to_file=tmp_path / "noext")
    assert open(tmp_path / "noext").read().startswith("format -Tpng")
    assert gn.utils.model_to_dot(model).create(format="pdf").startswith(b"format -Tpdf")


def test_graphviz_failure_is_reported(tmp_path, monkeypatch):
    _fake_dot(tmp_path / "bin", 'echo "syntax error in line 3" >&2; exit 1\n')
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(RuntimeError, match="graphviz `dot -Tpng` failed: syntax error"):
        gn.utils.plot_model(_branchy(gn), to_file=tmp_path / "m.png")


def test_bad_arguments():
    model = _branchy(gn)
    with pytest.raises(ValueError, match="model_to_dot: rankdir must be one of"):
        gn.utils.model_to_dot(model, rankdir="up")
    with pytest.raises(ValueError, match="`layer_range` is no longer supported"):
        gn.utils.plot_model(model, layer_range=["a", "b"])
    with pytest.raises(ValueError, match=r"unrecognized keyword arguments: \['colour'\]"):
        gn.utils.model_to_dot(model, colour="red")
    unbuilt = gn.Sequential([gn.layers.Dense(2)])
    with pytest.raises(ValueError, match="has not yet been built"):
        gn.utils.plot_model(unbuilt)
