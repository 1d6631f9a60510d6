"""The graph builder: unique names, weights, symbolic axes, subgraphs, checked models."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")

from rnnkit.export.graph import OPSET, GraphBuilder


def _add_one_model() -> onnx.ModelProto:
    builder = GraphBuilder("add_one")
    x = builder.input("x", np.float32, ("batch", "time"))
    one = builder.initializer("one", np.ones((), dtype=np.float32))
    builder.output(builder.node("Add", [x, one]), "y", np.float32, ("batch", "time"))
    return builder.to_model()


def test_model_has_the_opset_and_symbolic_axes():
    model = _add_one_model()
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims] == ["batch", "time"]
    assert model.graph.initializer[0].data_type == onnx.TensorProto.FLOAT


def test_names_are_unique_across_subgraphs():
    builder = GraphBuilder("main")
    first = builder.initializer("w", np.zeros(2, dtype=np.float32))
    body = builder.subgraph("body")
    second = body.initializer("w", np.zeros(2, dtype=np.float32))
    assert (first, second) == ("w", "w_1")
    assert body.unique("w") == "w_2"
    assert len(builder.to_graph().initializer) == 2  # a body's weights live in the main graph
    assert len(body.to_graph().initializer) == 0


def test_node_returns_one_name_or_a_list():
    builder = GraphBuilder("split")
    x = builder.input("x", np.float32, (4,))
    halves = builder.node("Split", [x], 2, axis=0, num_outputs=2)
    assert isinstance(halves, list) and len(halves) == 2
    assert isinstance(builder.node("Neg", [halves[0]]), str)


def test_taken_names_and_subgraph_models_are_refused():
    builder = GraphBuilder("main")
    builder.input("x", np.float32, (1,))
    with pytest.raises(ValueError, match="'x' is already used"):
        builder.input("x", np.float32, (1,))
    with pytest.raises(ValueError, match="subgraph"):
        builder.subgraph("body").to_model()
    with pytest.raises(ValueError, match="outputs must be at least 1, got 0"):
        builder.node("Neg", ["x"], 0)


def test_invalid_graph_fails_the_checker():
    builder = GraphBuilder("broken")
    x = builder.input("x", np.float32, (2,))
    builder.output(builder.node("NoSuchOp", [x]), "y", np.float32, (2,))
    with pytest.raises(onnx.checker.ValidationError):
        builder.to_model()


def test_model_runs_in_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(_add_one_model().SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(session.run(None, {"x": x})[0], x + 1)


def test_scan_body_reads_an_outer_weight():
    ort = pytest.importorskip("onnxruntime")
    builder = GraphBuilder("cumulative")
    x = builder.input("x", np.float32, ("time", 2))
    body = builder.subgraph("step")
    scale = body.initializer("scale", np.full(2, 2.0, dtype=np.float32))
    total, x_t = body.input("total", np.float32, (2,)), body.input("x_t", np.float32, (2,))
    new_total = body.node("Add", [total, body.node("Mul", [x_t, scale])])
    body.output(new_total, "total_out", np.float32, (2,))
    body.output(new_total, "y_t", np.float32, (2,))
    zeros = builder.initializer("zeros", np.zeros(2, dtype=np.float32))
    final, ys = builder.node("Scan", [zeros, x], 2, body=body.to_graph(), num_scan_inputs=1)
    builder.output(ys, "y", np.float32, ("time", 2))
    builder.output(final, "final", np.float32, (2,))
    session = ort.InferenceSession(builder.to_model().SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    values = np.arange(6, dtype=np.float32).reshape(3, 2)
    y, last = session.run(["y", "final"], {"x": values})
    np.testing.assert_array_equal(y, np.cumsum(2 * values, axis=0))
    np.testing.assert_array_equal(last, y[-1])


def test_equal_constants_are_stored_once():
    builder = GraphBuilder("main")
    axes = builder.constant("axes", np.array([0], dtype=np.int64))
    assert builder.subgraph("body").constant("other", np.array([0], dtype=np.int64)) == axes
    assert builder.constant("axes", np.array([0], dtype=np.int32)) != axes  # another dtype
    assert builder.constant("axes", np.array([1], dtype=np.int64)) != axes
    assert len(builder.to_graph().initializer) == 3
