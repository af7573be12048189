import torch

from training.net.arch import SOURCES
from training.net.model import TinySSD, fold_batchnorm, load_reference_state_dict, reference_state_dict


def test_parameter_count_matches_reference():
    assert sum(p.numel() for p in TinySSD().parameters()) == 1_187_921


def test_output_and_feature_shapes():
    model = TinySSD().eval()
    with torch.no_grad():
        features = model.forward_features(torch.zeros(1, 3, 300, 300))
        loc, conf = model.head(features)
    assert loc.shape == (1, 8030, 4) and conf.shape == (1, 8030, 21)
    for source in SOURCES:
        f = features[source["layer"]]
        assert f.shape[2:] == (source["feature_size"], source["feature_size"])
    assert features["fire8"].shape[1] == 83 and features["conv13_2"].shape[1] == 85


def test_contract_tensor_names():
    names = set(reference_state_dict(TinySSD()))
    for name in ["conv1.weight", "conv1.bias", "conv12_1.weight", "conv13_2.bias", "fire1.squeeze.weight",
                 "fire1.expand1x1.bias", "fire10.expand3x3.weight", "loc.fire4.weight", "conf.conv13_2.bias"]:
        assert name in names
    assert len(names) == 94
    assert reference_state_dict(TinySSD())["loc.fire8.weight"].shape == (24, 83, 3, 3)


def test_box_order_contract():
    """Box index = (source, row, column, box); loc channel = box * 4 + coord."""
    model = TinySSD().eval()
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 3, 300, 300))
        loc, _ = model.head(features)
        raw = model.loc["fire8"](features["fire8"])  # [1, 24, 18, 18]
    i, j, b = 5, 11, 4
    index = 37 * 37 * 4 + (i * 18 + j) * 6 + b
    assert torch.allclose(loc[0, index], raw[0, b * 4: b * 4 + 4, i, j])


def test_batchnorm_folding_equals_bn_model_in_eval_mode():
    torch.manual_seed(1)
    bn_model = TinySSD(batch_norm=True).double()
    for m in bn_model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    bn_model.eval()
    plain = TinySSD().double().eval()
    load_reference_state_dict(plain, fold_batchnorm(bn_model.state_dict()))
    x = torch.randn(1, 3, 300, 300, dtype=torch.float64)
    with torch.no_grad():
        for a, b in zip(bn_model(x), plain(x)):
            assert torch.allclose(a, b, atol=1e-9, rtol=1e-9)


def test_init_from_reference_makes_bn_model_compute_the_same_function():
    torch.manual_seed(2)
    plain = TinySSD().eval()
    bn_model = TinySSD(batch_norm=True)
    load_reference_state_dict(bn_model, reference_state_dict(plain))
    bn_model.eval()
    x = torch.randn(1, 3, 300, 300)
    with torch.no_grad():
        for a, b in zip(plain(x), bn_model(x)):
            assert torch.allclose(a, b, atol=1e-4)
