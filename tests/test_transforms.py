"""The joint image/label transforms of Sec. 4.1 (atrous.data.transforms)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies_data import coordinate_pairs, crop_sizes, image_label_pairs, scales, seeds

from atrous.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    EvalTransform,
    TrainTransform,
    hflip,
    label_tensor,
    normalize,
    pad,
    random_crop,
    random_scale,
    rescale,
)

# Resampling moves a decoded coordinate by at most 0.69 pixel (measured over all sides
# 1..15 and scales 0.5..2); a label shifted by one pixel against its image exceeds this.
ALIGN_TOL = 0.75
IDENTITY = dict(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def assert_aligned(image: np.ndarray, label: np.ndarray, source_width: int) -> None:
    """Pixels that are not ignore: the image's coordinates agree with the label's."""
    keep = label != 255
    rows = (image[..., 0].astype(np.float64) - 8) / 16
    cols = (image[..., 1].astype(np.float64) - 8) / 16
    label_rows, label_cols = label // source_width, label % source_width
    assert np.abs(rows - label_rows)[keep].max(initial=0) <= ALIGN_TOL
    assert np.abs(cols - label_cols)[keep].max(initial=0) <= ALIGN_TOL


@given(pair=coordinate_pairs(), scale=scales())
def test_rescale_keeps_image_and_label_aligned(pair, scale):
    image, label = pair
    out_image, out_label = rescale(image, label, scale)
    assert out_image.shape[:2] == out_label.shape
    assert out_label.shape == (max(round(label.shape[0] * scale), 1),
                               max(round(label.shape[1] * scale), 1))  # fmt: skip
    assert_aligned(out_image, out_label, label.shape[1])


@given(pair=coordinate_pairs())
def test_hflip_keeps_image_and_label_aligned(pair):
    image, label = pair
    out_image, out_label = hflip(image, label)
    assert_aligned(out_image, out_label, label.shape[1])


@given(pair=coordinate_pairs(), size=crop_sizes(), seed=seeds())
def test_pad_and_random_crop_keep_image_and_label_aligned(pair, size, seed):
    image, label = pair
    image, label = pad(image, label, size, fill=(0, 0, 0))
    assert_aligned(image, label, pair[1].shape[1])
    image, label = random_crop(image, label, size, np.random.default_rng(seed))
    assert_aligned(image, label, pair[1].shape[1])


@settings(max_examples=60)
@given(pair=coordinate_pairs(), crop=crop_sizes(), seed=seeds(), flip=st.booleans())
def test_train_transform_keeps_image_and_label_aligned(pair, crop, seed, flip):
    image, label = pair
    transform = TrainTransform(crop_size=crop, flip=flip, **IDENTITY)
    out_image, out_label = transform(image, label, rng=np.random.default_rng(seed))
    assert out_image.dtype == torch.float32 and out_image.shape == (3, crop, crop)
    assert out_label.dtype == torch.int64 and out_label.shape == (crop, crop)
    hwc = out_image.numpy().transpose(1, 2, 0)  # (crop, crop, 3)
    assert_aligned(hwc, out_label.numpy(), label.shape[1])
    # Padding: ignore in the label, exactly the mean (0 here) in the image.
    padded = out_label.numpy() == 255
    assert np.all(hwc[padded] == 0)


@given(pair=image_label_pairs(), scale=scales())
def test_rescale_never_invents_label_values(pair, scale):
    image, label = pair
    _, out = rescale(image, label, scale)
    assert set(np.unique(out)) <= set(np.unique(label))
    if scale >= 1:  # nothing can be lost when every source pixel is sampled
        assert set(np.unique(out)) == set(np.unique(label))


@given(pair=image_label_pairs(), size=crop_sizes())
def test_padding_never_invents_classes(pair, size):
    image, label = pair
    out_image, out_label = pad(image, label, size, fill=(1.5, 2.5, 3.5))
    h, w = label.shape
    assert out_label.shape == (max(h, size), max(w, size))
    np.testing.assert_array_equal(out_label[:h, :w], label)
    np.testing.assert_array_equal(out_image[:h, :w], image.astype(np.float32))
    grew = out_label.shape != label.shape
    assert set(np.unique(out_label)) == set(np.unique(label)) | ({255} if grew else set())
    border = np.ones(out_label.shape, bool)
    border[:h, :w] = False
    assert np.all(out_image[border] == np.float32([1.5, 2.5, 3.5]))


@given(pair=image_label_pairs(), crop=crop_sizes(), seed=seeds(), flip=st.booleans())
def test_train_transform_labels_keep_their_set_of_values(pair, crop, seed, flip):
    image, label = pair
    transform = TrainTransform(crop_size=crop, flip=flip)
    _, out = transform(image, label, rng=np.random.default_rng(seed))
    assert set(np.unique(out.numpy())) <= set(np.unique(label)) | {255}


@given(pair=image_label_pairs())
def test_flipping_twice_is_the_identity(pair):
    image, label = pair
    once_image, once_label = hflip(image, label)
    twice_image, twice_label = hflip(once_image, once_label)
    np.testing.assert_array_equal(twice_image, image)
    np.testing.assert_array_equal(twice_label, label)
    np.testing.assert_array_equal(once_label[:, 0], label[:, -1])


@given(pair=image_label_pairs(), size=crop_sizes(), seed=seeds())
def test_random_crop_is_a_window_of_the_input(pair, size, seed):
    image, label = pair
    image, label = pad(image, label, size, fill=(0, 0, 0))
    out_image, out_label = random_crop(image, label, size, np.random.default_rng(seed))
    assert out_label.shape == (size, size)
    h, w = label.shape
    windows = [
        (t, l)
        for t in range(h - size + 1)
        for l in range(w - size + 1)
        if np.array_equal(label[t : t + size, l : l + size], out_label)
        and np.array_equal(image[t : t + size, l : l + size], out_image)
    ]
    assert windows


@settings(max_examples=40)
@given(pair=image_label_pairs(), crop=crop_sizes(), seed=seeds())
def test_train_transform_is_scale_pad_crop_flip_normalize(pair, crop, seed):
    """The fast path (crop, then pad, flip and normalise in one pass) equals the paper's
    order step by step, bit for bit."""
    image, label = pair
    transform = TrainTransform(crop_size=crop)
    got_image, got_label = transform(image, label, rng=np.random.default_rng(seed))
    rng = np.random.default_rng(seed)
    image, label = random_scale(image, label, (0.5, 2.0), rng)
    image, label = pad(image, label, crop, fill=IMAGENET_MEAN)
    image, label = random_crop(image, label, crop, rng)
    if rng.random() < 0.5:
        image, label = hflip(image, label)
    assert torch.equal(got_label, label_tensor(label))  # bit for bit, dtypes included
    assert torch.equal(got_image, normalize(image, IMAGENET_MEAN, IMAGENET_STD))


def test_the_same_rng_gives_the_same_sample_and_the_own_generator_is_seeded():
    image = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    label = np.random.default_rng(1).integers(0, 21, (40, 50))
    transform = TrainTransform(crop_size=17)
    a = transform(image, label, rng=np.random.default_rng(5))
    b = transform(image, label, rng=np.random.default_rng(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    one, two = TrainTransform(crop_size=17, seed=3), TrainTransform(crop_size=17, seed=3)
    draws = [(one(image, label)[1], two(image, label)[1]) for _ in range(3)]
    assert all(torch.equal(x, y) for x, y in draws)
    assert not all(torch.equal(draws[0][0], x) for x, _ in draws[1:])  # it does vary


def test_eval_transform_keeps_the_whole_image_and_normalizes():
    image = np.random.default_rng(0).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    label = np.random.default_rng(1).integers(0, 21, (9, 13))
    out_image, out_label = EvalTransform()(image, label)
    assert out_image.shape == (3, 9, 13) and out_label.dtype == torch.int64
    np.testing.assert_array_equal(out_label.numpy(), label)
    expected = (image - np.float32(IMAGENET_MEAN)) / np.float32(IMAGENET_STD)
    np.testing.assert_allclose(out_image.numpy().transpose(1, 2, 0), expected, rtol=1e-6)


class _Repeat(torch.utils.data.Dataset):
    def __init__(self, transform):
        self.transform = transform
        self.image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        self.label = np.arange(32 * 32).reshape(32, 32) % 7

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return self.transform(self.image, self.label)[1]


def test_dataloader_workers_do_not_repeat_each_others_crops():
    torch.manual_seed(0)
    dataset = _Repeat(TrainTransform(crop_size=9, seed=0))
    loader = torch.utils.data.DataLoader(dataset, batch_size=1, num_workers=2)
    crops = [batch[0] for batch in loader]
    # Workers 0 and 1 take alternate samples; a copied generator would repeat crops pairwise.
    assert not all(torch.equal(crops[i], crops[i + 1]) for i in range(0, 8, 2))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(crop_size=0), "crop_size"),
        (dict(crop_size=(5, 0)), "crop_size"),
        (dict(scale_range=(2.0, 0.5)), "scale_range"),
        (dict(scale_range=(0.0, 1.0)), "scale_range"),
        (dict(mean=(1.0, 2.0)), "mean"),
    ],
)
def test_train_transform_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainTransform(**kwargs)


def test_functions_reject_bad_input():
    image, label = np.zeros((4, 5, 3), np.uint8), np.zeros((4, 5), np.int64)
    with pytest.raises(ValueError, match="label shape"):
        hflip(image, label[:3])
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        hflip(image[..., 0], label)
    with pytest.raises(ValueError, match="scale"):
        rescale(image, label, 0.0)
    with pytest.raises(ValueError, match="pad first"):
        random_crop(image, label, 6, np.random.default_rng(0))
    with pytest.raises(ValueError, match="fill"):
        pad(image, label, 6, fill=(0, 0))
    with pytest.raises(ValueError, match="std"):
        normalize(image, (0, 0, 0), (1, 0, 1))
