import numpy as np

from training.evaluate import PROTOCOL, DetectConfig, ap_11_point, ap_all_point, precision_recall


def test_toy_ap_with_difficult_ignored():
    # one image: two normal ground truths and one difficult one
    gt = [np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], np.float32)]
    difficult = [np.array([False, False, True])]
    detections = [
        (0, 0.9, np.array([0, 0, 10, 10.0])),   # TP (gt 0)
        (0, 0.8, np.array([40, 40, 50, 50.0])),  # on the difficult one: ignored
        (0, 0.7, np.array([60, 60, 70, 70.0])),  # FP
        (0, 0.6, np.array([20, 20, 30, 31.0])),  # TP (gt 1, IoU 10/11)
        (0, 0.5, np.array([0, 0, 10, 11.0])),    # duplicate of gt 0: FP
    ]
    recall, precision = precision_recall(detections, gt, difficult)
    np.testing.assert_allclose(recall, [0.5, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(precision, [1.0, 0.5, 2 / 3, 0.5])
    assert abs(ap_11_point(recall, precision) - (6 * 1.0 + 5 * 2 / 3) / 11) < 1e-9
    assert abs(ap_all_point(recall, precision) - (0.5 * 1.0 + 0.5 * 2 / 3)) < 1e-9


def test_no_detections_gives_zero_ap():
    recall, precision = precision_recall([], [np.array([[0, 0, 1, 1]], np.float32)], [np.array([False])])
    assert ap_11_point(recall, precision) == 0.0 and ap_all_point(recall, precision) == 0.0


def test_the_protocol_comes_from_the_file_tinyssd_eval_reads():
    config = DetectConfig()
    assert set(PROTOCOL) == {"score_threshold", "nms_iou", "candidates_per_class", "detections_per_image",
                             "match_iou"}
    assert (config.score_threshold, config.nms_iou) == (PROTOCOL["score_threshold"], PROTOCOL["nms_iou"])
    assert config.candidates_per_class == PROTOCOL["candidates_per_class"]
    assert config.detections_per_image == PROTOCOL["detections_per_image"]
