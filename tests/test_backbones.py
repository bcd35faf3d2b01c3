"""Tests of cvbook.backbones against torchvision's constructors and closed-form counts."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cvbook.backbones import resnet


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def macs(model: nn.Module, input_shape: tuple[int, ...]) -> float:
    """Multiply-accumulates of one forward pass (FlopCounterMode counts 2 FLOPs per MAC)."""
    with torch.device("meta"):
        x = torch.empty(input_shape)
    with FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() / 2


# ---------------------------------------------------------------- residual networks
@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"])
def test_resnet_parameter_count_equals_torchvision(name):
    with torch.device("meta"):
        ours = getattr(resnet, name)()
        reference = getattr(torchvision.models, name)()
        ours10 = getattr(resnet, name)(num_classes=10)
        reference10 = getattr(torchvision.models, name)(num_classes=10)
    assert n_params(ours) == n_params(reference)
    assert n_params(ours10) == n_params(reference10)


@pytest.mark.parametrize(
    "name, gflops",
    [("resnet18", 1.8), ("resnet34", 3.6), ("resnet50", 3.8), ("resnet101", 7.6), ("resnet152", 11.3)],
)
def test_resnet_flops_match_paper_table(name, gflops):
    # The paper's table (He et al., 2016) counts multiply-adds, with the bottleneck stride on the first 1x1.
    kwargs = {"stride_in_1x1": True} if name in ("resnet50", "resnet101", "resnet152") else {}
    with torch.device("meta"):
        model = getattr(resnet, name)(**kwargs)
    measured = macs(model, (1, 3, 224, 224)) / 1e9
    assert abs(measured - gflops) / gflops < 0.03, measured


def test_resnet50_v15_flops_match_torchvision():
    # torchvision's ResNet-50 (stride on the 3x3) reports 4.09 GFLOPS (multiply-adds) in its weights metadata.
    with torch.device("meta"):
        ours = resnet.resnet50()
        reference = torchvision.models.resnet50()
    assert macs(ours, (1, 3, 224, 224)) == macs(reference, (1, 3, 224, 224))
    assert torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["_ops"] == pytest.approx(
        macs(ours, (1, 3, 224, 224)) / 1e9, abs=0.01
    )


def test_basic_block_parameter_counts_closed_form():
    # Lecture: 2 x (3*3*64 + 1) x 64 ~ 73 k (convolutions with biases, no batch norm).
    assert n_params(resnet.BasicBlock(64, 64, batch_norm=False)) == 2 * (3 * 3 * 64 + 1) * 64 == 73_856
    # The "wide" block: 2 x (3*3*256 + 1) x 256 ~ 1.2 M.
    assert n_params(resnet.BasicBlock(256, 256, batch_norm=False)) == 2 * (3 * 3 * 256 + 1) * 256
    # With batch norm: no conv biases, 2 affine parameters per channel per BN.
    assert n_params(resnet.BasicBlock(64, 64)) == 2 * 3 * 3 * 64 * 64 + 2 * 2 * 64


def test_bottleneck_parameter_count_closed_form():
    # 256 -> 64 (1x1) -> 64 (3x3) -> 256 (1x1), each with a bias.
    expected = (256 + 1) * 64 + (3 * 3 * 64 + 1) * 64 + (64 + 1) * 256
    assert n_params(resnet.Bottleneck(256, 64, batch_norm=False)) == expected == 70_016


def test_blocks_shapes_and_projection_shortcut():
    x = torch.randn(2, 64, 15, 15)
    assert resnet.BasicBlock(64, 128, stride=2)(x).shape == (2, 128, 8, 8)
    assert resnet.Bottleneck(64, 32, stride=2)(x).shape == (2, 128, 8, 8)
    assert isinstance(resnet.BasicBlock(64, 64).shortcut, nn.Identity)
    # shortcut of a block with stride 2: 1x1 conv (64*128) + BN (2*128)
    assert n_params(resnet.BasicBlock(64, 128, stride=2).shortcut) == 64 * 128 + 2 * 128


def test_resnet_features_and_classifier_shapes():
    model = resnet.resnet18(num_classes=7).eval()
    x = torch.randn(1, 3, 224, 224)
    feats = model.features(x)
    assert feats.shape == (1, 512, 7, 7)
    assert model.classifier(feats).shape == (1, 7)
    assert torch.equal(model(x), model.classifier(feats))


def test_resnet_small_shapes_and_grey_input():
    model = resnet.resnet_small()
    assert model.features(torch.randn(2, 3, 32, 32)).shape == (2, 128, 8, 8)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    grey = resnet.resnet_small(num_classes=4, widths=(8, 16), blocks=(2, 1), in_channels=1)
    assert grey(torch.randn(3, 1, 28, 28)).shape == (3, 4)


def test_resnet_small_learns_a_tiny_problem():
    # 16 random images with random labels: a residual net must be able to memorise them.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster, and robust to a busy machine
    try:
        torch.manual_seed(0)
        x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
        model = resnet.resnet_small(widths=(8, 16, 32))
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(60):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert (model(x).argmax(1) == y).float().mean() == 1.0
    finally:
        torch.set_num_threads(threads)


def test_resnet_rejects_bad_arguments():
    with pytest.raises(ValueError, match="layers"):
        resnet.ResNet(resnet.BasicBlock, [])
    with pytest.raises(ValueError, match="same length"):
        resnet.ResNet(resnet.BasicBlock, [1, 1], widths=[8])
    with pytest.raises(ValueError, match="Bottleneck"):
        resnet.ResNet(resnet.BasicBlock, [1, 1], groups=32)
    with pytest.raises(ValueError, match="B, C, H, W"):
        resnet.resnet_small()(torch.randn(3, 32, 32))


# ---------------------------------------------------------------- LeNet, AlexNet, VGG
from cvbook import convolutionize as fcn  # noqa: E402
from cvbook.backbones import alexnet, inception, lenet, nin, resnext, summary, vgg  # noqa: E402


def test_lenet5_parameters_and_layer_shapes_by_hand():
    model = lenet.LeNet5()
    expected = (5 * 5 * 1 + 1) * 6 + (5 * 5 * 6 + 1) * 16 + (256 + 1) * 120 + (120 + 1) * 84 + (84 + 1) * 10
    assert n_params(model) == expected == 44_426
    shapes = [row.output_shape[1:] for row in summary.layer_shapes(model, (1, 1, 28, 28))]
    # 28 - 5 + 1 = 24, /2 = 12, 12 - 5 + 1 = 8, /2 = 4, 16 * 4 * 4 = 256
    assert shapes[:6] == [(6, 24, 24), (6, 24, 24), (6, 12, 12), (16, 8, 8), (16, 8, 8), (16, 4, 4)]
    assert shapes[6:] == [(256,), (120,), (120,), (84,), (84,), (10,)]
    with pytest.raises(ValueError, match="28"):
        model(torch.zeros(1, 1, 32, 32))


@pytest.fixture(scope="module")
def alexnet_pair():
    torch.manual_seed(0)
    reference = torchvision.models.alexnet().eval()
    ours = alexnet.AlexNet().eval()
    # Same layers; our classifier starts with a Flatten, so its indices are shifted by one.
    state = {k.replace("classifier.", "classifier.+"): v for k, v in reference.state_dict().items()}
    state = {
        (f"classifier.{int(k.split('.')[1][1:]) + 1}.{k.split('.')[2]}" if k.startswith("classifier.+") else k): v
        for k, v in state.items()
    }
    ours.load_state_dict(state)
    return ours, reference


def test_alexnet_equals_torchvision(alexnet_pair):
    ours, reference = alexnet_pair
    assert n_params(ours) == n_params(reference) == 61_100_840
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(ours(x), reference(x), atol=1e-5)
    with pytest.raises(ValueError, match="6×6"):
        ours(torch.randn(1, 3, 256, 256))


@pytest.mark.parametrize("config, name", [("A", "vgg11"), ("B", "vgg13"), ("D", "vgg16"), ("E", "vgg19")])
def test_vgg_parameter_counts_equal_torchvision(config, name):
    with torch.device("meta"):
        assert n_params(vgg.VGG(config)) == n_params(getattr(torchvision.models, name)())
        assert n_params(vgg.VGG(config, batch_norm=True)) == n_params(getattr(torchvision.models, name + "_bn")())


def test_vgg_c_is_b_plus_three_1x1_convolutions():
    with torch.device("meta"):
        b, c = n_params(vgg.VGG("B")), n_params(vgg.VGG("C"))
    assert c - b == (256 * 256 + 256) + 2 * (512 * 512 + 512)
    # The paper's Table 2: 133, 133, 134, 138, 144 millions for A..E.
    with torch.device("meta"):
        millions = [round(n_params(vgg.VGG(k)) / 1e6) for k in "ABCDE"]
    assert millions == [133, 133, 134, 138, 144]


def test_vgg_shapes_and_errors():
    model = vgg.VGG("A", num_classes=5, input_size=32)
    assert model.features(torch.zeros(1, 3, 32, 32)).shape == (1, 512, 1, 1)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
    with pytest.raises(ValueError, match="configuration"):
        vgg.VGG("F")
    with pytest.raises(ValueError, match="conv3-64"):
        vgg.make_features(["conv3x3"])


# ---------------------------------------------------------------- NiN, Inception, ResNeXt
def test_1x1_convolution_is_a_linear_layer_at_every_pixel():
    block = nin.nin_block(3, 8, kernel_size=3, padding=1)
    x = torch.randn(2, 3, 5, 6)
    conv1x1 = block[2]
    h = torch.relu(block[0](x))
    expected = torch.einsum("oc,bchw->bohw", conv1x1.weight[:, :, 0, 0], h) + conv1x1.bias[:, None, None]
    assert torch.allclose(conv1x1(h), expected, atol=1e-6)
    assert block(x).shape == (2, 8, 5, 6)
    assert nin.NiN(num_classes=10)(torch.zeros(1, 3, 224, 224)).shape == (1, 10)


@pytest.mark.parametrize("name", list(inception.GOOGLENET))
def test_inception_parameters_equal_torchvision_up_to_its_3x3_bug(name):
    from torchvision.models.googlenet import Inception as TorchvisionInception

    args = inception.GOOGLENET[name]
    ours = inception.Inception(*args, batch_norm=True)
    reference = TorchvisionInception(*args)
    ch5x5red, ch5x5 = args[4], args[5]
    # torchvision's "5x5" branch is a 3x3 convolution: 25 - 9 = 16 weights fewer per filter pair.
    assert n_params(ours) == n_params(reference) + ch5x5red * ch5x5 * (25 - 9)


def test_inception_closed_forms_and_shapes():
    # Module 3a without biases would have 192*64 + 192*96 + 9*96*128 + 192*16 + 25*16*32 + 192*32 weights.
    weights = 192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32
    biases = 64 + 96 + 128 + 16 + 32 + 32
    module = inception.Inception(*inception.GOOGLENET["3a"])
    assert n_params(module) == weights + biases == 163_696
    naive = inception.NaiveInception(192, 64, 128, 32)
    assert n_params(naive) == (192 + 1) * 64 + (9 * 192 + 1) * 128 + (25 * 192 + 1) * 32
    x = torch.randn(1, 192, 7, 7)
    assert module(x).shape == (1, 64 + 128 + 32 + 32, 7, 7)
    assert naive(x).shape == (1, 64 + 128 + 32 + 192, 7, 7)
    with pytest.raises(ValueError, match="positive"):
        inception.Inception(192, 64, 0, 128, 16, 32, 32)


@pytest.mark.parametrize("name", ["resnext50_32x4d", "resnext101_32x8d"])
def test_resnext_parameter_count_equals_torchvision(name):
    with torch.device("meta"):
        assert n_params(getattr(resnext, name)()) == n_params(getattr(torchvision.models, name)())


def test_resnext_block_width_and_parameters():
    block = resnext.resnext_block(256, 64, groups=32, width_per_group=4)
    grouped = block.residual[3]
    assert grouped.groups == 32 and grouped.in_channels == grouped.out_channels == 128
    # 1x1 256->128, grouped 3x3 (32 groups of 4->4), 1x1 128->256, plus 3 batch norms.
    assert n_params(block) == 256 * 128 + 32 * 4 * 4 * 9 + 128 * 256 + 2 * (128 + 128 + 256)
    assert block(torch.randn(1, 256, 8, 8)).shape == (1, 256, 8, 8)


# ---------------------------------------------------------------- summary
def test_count_macs_closed_form():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 10 * 12, 5))
    expected = 3 * 3 * 3 * 8 * 10 * 12 + 8 * 10 * 12 * 5
    assert summary.count_macs(model, (1, 3, 10, 12)) == expected
    assert summary.count_macs(model, (4, 3, 10, 12)) == 4 * expected
    with pytest.raises(ValueError, match="input_shape"):
        summary.count_macs(model, (3,))


def test_summary_table_lists_alexnet_shapes():
    with torch.device("meta"):
        text = summary.summary(alexnet.AlexNet(), (1, 3, 224, 224))
    assert "64×55×55" in text and "256×6×6" in text and "61,100,840" in text


# ---------------------------------------------------------------- fully convolutional
def test_linear_to_conv_same_numbers():
    linear = nn.Linear(4 * 3 * 2, 7)
    x = torch.randn(5, 4, 3, 2)
    conv = fcn.linear_to_conv(linear, (4, 3, 2))
    assert torch.allclose(conv(x).flatten(1), linear(x.flatten(1)), atol=1e-6)
    one = fcn.linear_to_conv(nn.Linear(4, 7))
    assert one.kernel_size == (1, 1)
    with pytest.raises(ValueError, match="in_shape"):
        fcn.linear_to_conv(linear, (4, 3, 3))


def test_convolutionize_alexnet_same_logits_and_map(alexnet_pair):
    ours, reference = alexnet_pair
    net = fcn.convolutionize(ours, (3, 224, 224)).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(net(x).flatten(1), reference(x), atol=1e-5)
        big = torch.randn(1, 3, 256, 256)
        dense = net(big)
        assert dense.shape == (1, 1000, 2, 2)  # windows every 32 pixels: (256 - 224) / 32 + 1 = 2
    assert not any(isinstance(m, nn.Linear) for m in net.modules())


def test_convolutionize_torchvision_resnet_global_pooling():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10).eval()
    net = fcn.convolutionize(model, (3, 64, 64)).eval()  # features 2x2 at 64x64
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(net(x).flatten(1), model(x), atol=1e-5)
        dense = net(torch.randn(1, 3, 96, 96))  # features 3x3: a 2x2 map of 2x2 windows
    assert dense.shape == (1, 10, 2, 2)
    assert isinstance(net[-2], nn.AvgPool2d) and net[-2].kernel_size == (2, 2)


def test_convolutionize_detects_a_forward_that_is_not_a_chain():
    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 3, 3, padding=1)
            self.fc = nn.Linear(3 * 4 * 4, 2)

        def forward(self, x):
            return self.fc((x + self.a(x)).flatten(1))

    with pytest.raises(ValueError, match="chain"):
        fcn.convolutionize(Skip(), (3, 4, 4))
    with pytest.raises(ValueError, match="input_size"):
        fcn.convolutionize(Skip(), (4, 4))


def test_shift_and_stitch_equals_evaluation_at_every_shift():
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3), nn.ReLU())
    head = nn.Sequential(nn.Conv2d(6, 5, 2), nn.ReLU(), nn.Conv2d(5, 3, 1))
    pool, stride = 3, 2  # last pooling 3x3/3; the trunk's total stride is 2
    network = nn.Sequential(trunk, nn.MaxPool2d(pool), head)
    x = torch.randn(2, 2, 41, 47)
    dense = fcn.shift_and_stitch(trunk, pool, head, x)
    ny, nx = dense.shape[-2] // pool, dense.shape[-1] // pool
    # Reference: the whole network on the input shifted by (dy, dx) trunk steps, outputs interleaved.
    for dy in range(pool):
        for dx in range(pool):
            shifted = network(x[..., stride * dy :, stride * dx :])[..., :ny, :nx]
            assert torch.allclose(dense[..., dy::pool, dx::pool], shifted, atol=1e-6)
    assert dense.shape[:2] == (2, 3)
    # Without shifts the network sees only offset (0, 0): a pool-times coarser map.
    assert torch.allclose(network(x)[..., :ny, :nx], dense[..., ::pool, ::pool], atol=1e-6)
