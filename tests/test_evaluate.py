"""Evaluation (Sec. 4.3): the streaming confusion matrix and mIOU against the NumPy oracle,
multi-scale and flip averaging, any output stride, whole images of any size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import reference
from atrous import DeepLabV3, get_preset
from atrous.base.errors import AtrousError
from atrous.inference.evaluate import confusion_matrix, evaluate, iou_from_confusion
from tests.helpers_train import FlipCrop, Rectangles
from tests.strategies import seeds

torch.set_num_threads(1)


@st.composite
def predictions(draw, *, max_classes: int = 6, max_side: int = 10):
    """(pred, target, K): target has some 255s; classes may be absent from both."""
    k = draw(st.integers(1, max_classes))
    shape = (draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
    rng = np.random.default_rng(draw(seeds()))
    pred = rng.integers(0, k, size=shape)
    target = rng.integers(0, k, size=shape)
    target[rng.random(shape) < draw(st.floats(0, 1))] = 255
    return pred, target, k


@given(predictions())
def test_confusion_and_miou_match_reference(case):
    pred, target, k = case
    confusion = confusion_matrix(torch.from_numpy(pred), torch.from_numpy(target), k)
    expected = reference.confusion_matrix(pred, target, k)
    np.testing.assert_array_equal(confusion.numpy(), expected)
    np.testing.assert_allclose(
        iou_from_confusion(confusion), reference.iou_per_class(expected), equal_nan=True
    )


class _Fixed(torch.nn.Module):
    """A 'model' whose logits are a fixed function of the image (its first K channels)."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.cat([x, -x], 1)[:, : self.k] + self.anchor


def test_evaluate_equals_reference_over_a_dataset():
    dataset = Rectangles(length=5, size=13, seed=3)
    model = DeepLabV3(get_preset("tiny", num_classes=4, aspp_channels=8)).eval()
    result = evaluate(model, dataset, FlipCrop(flip=False), progress=False)
    total = np.zeros((4, 4), dtype=np.int64)
    for i in range(len(dataset)):
        image, label = FlipCrop(flip=False)(*dataset[i])
        with torch.no_grad():
            pred = model(image[None]).argmax(1)[0].numpy()
        total += reference.confusion_matrix(pred, label.numpy(), 4)
    np.testing.assert_array_equal(result.confusion, total)
    assert result.miou == pytest.approx(reference.mean_iou(total), rel=1e-12)
    assert result.to_dict()["miou"] == result.miou
    assert "mIOU" in result.table()


def test_output_stride_is_switched_and_restored():
    model = DeepLabV3(get_preset("tiny", num_classes=4, aspp_channels=8)).train()
    dataset = Rectangles(length=2, size=17)
    at8 = evaluate(model, dataset, FlipCrop(flip=False), output_stride=8, progress=False)
    assert model.config.output_stride == 16 and model.training  # as it was
    assert at8.settings["output_stride"] == 8
    model.set_output_stride(8)
    again = evaluate(model.eval(), dataset, FlipCrop(flip=False), progress=False)
    np.testing.assert_array_equal(at8.confusion, again.confusion)


def test_bad_input():
    model = _Fixed(3)
    with pytest.raises(ValueError, match="num_classes=3"):
        confusion_matrix(torch.zeros(2, dtype=torch.long), torch.tensor([0, 7]), 3)
    with pytest.raises(ValueError, match="no images"):
        evaluate(model, Rectangles(0), FlipCrop(), num_classes=3, progress=False)


def test_a_network_with_more_classes_than_its_data_names_the_extra_outputs():
    """Training allows more outputs than the data set has classes (VOC with 25); evaluation
    scores every output and names the extra ones by their index."""
    dataset = Rectangles(length=3, size=13, seed=1)
    model = DeepLabV3(get_preset("tiny", num_classes=6, aspp_channels=8)).eval()
    result = evaluate(model, dataset, FlipCrop(flip=False), class_names=["a", "b", "c", "d"],
                      progress=False)  # fmt: skip
    assert result.class_names == ["a", "b", "c", "d", "4", "5"]
    assert list(result.to_dict()["iou"]) == result.class_names
    assert "5" in result.table()
    with pytest.raises(AtrousError, match="class_names has 7 names"):
        evaluate(model, dataset, FlipCrop(flip=False), class_names=list("abcdefg"),
                 progress=False)  # fmt: skip
