"""Face crops are prepared as fer prepares them."""

from __future__ import annotations

import numpy as np

from vision.crops import CROP_SIZE, face_crops, square


def test_square_grows_the_short_side_around_the_centre() -> None:
    assert square(np.array([10, 20, 40, 60])) == (0, 20, 60, 60)
    assert square(np.array([10, 20, 60, 40])) == (10, 10, 60, 60)
    assert square(np.array([5, 5, 30, 30])) == (5, 5, 30, 30)


def test_crops_are_64_square_uint8_and_include_the_margin() -> None:
    gray = np.zeros((200, 300), dtype=np.uint8)
    gray[50:150, 100:200] = 200  # a bright "face" box of 100×100
    [crop] = face_crops(gray, np.array([[100, 50, 100, 100]]))
    assert crop.shape == (CROP_SIZE, CROP_SIZE)
    assert crop.dtype == np.uint8
    # 10 px of margin on a 120 px crop: the border of the crop is dark, the middle bright.
    assert crop[32, 32] == 200
    assert crop[0, 32] == 0
    assert crop[32, 0] == 0


def test_boxes_at_the_edge_are_padded_with_the_bottom_rows_mean() -> None:
    gray = np.full((100, 100), 90, dtype=np.uint8)
    gray[-2:, :] = 30
    [crop] = face_crops(gray, np.array([[0, 0, 40, 40]]))
    assert crop[0, 0] == 30, "outside the frame comes from the padding"


def test_no_boxes_gives_an_empty_batch() -> None:
    crops = face_crops(np.zeros((10, 10), np.uint8), np.zeros((0, 4), np.int64))
    assert crops.shape == (0, CROP_SIZE, CROP_SIZE)
