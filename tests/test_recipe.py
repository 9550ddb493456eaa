"""The timm recipe pieces: each applied when on and absent when off, deterministic per (seed, step),
leaving the model's own RNG alone; the soft-target loss; the EMA of weights (and its evaluation)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn

from ablate import config as C
from ablate.train.module import Classifier, soft_target_loss
from ablate.train.recipe import BatchRecipe, WeightEma


def _train_cfg(**kw):
    return {**C.DEFAULTS["train"], **kw}


def _batch(n=8, classes=5):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, 16, 16, generator=g), torch.arange(n) % classes


def test_off_by_default():
    recipe = BatchRecipe(_train_cfg(), 5, seed=0)
    assert not recipe.enabled and not recipe.soft_targets
    x, y = _batch()
    x2, y2 = recipe(x, y, step=3)
    assert x2 is x and y2 is y


def test_mixup_cutmix_soft_targets_with_smoothing_deterministic_per_step():
    recipe = BatchRecipe(_train_cfg(mixup=0.8, cutmix=1.0, label_smoothing=0.1), 5, seed=0)
    x, y = _batch()
    xa, ya = recipe(x, y, step=7)
    assert ya.shape == (8, 5) and torch.allclose(ya.sum(1), torch.ones(8))
    assert ya.min() >= 0.1 / 5 - 1e-6  # smoothing puts at least eps / C on every class
    assert not torch.equal(xa, x)
    xb, yb = recipe(x, y, step=7)
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    xc, _ = recipe(x, y, step=8)
    assert not torch.equal(xa, xc)
    other_seed = BatchRecipe(_train_cfg(mixup=0.8, cutmix=1.0, label_smoothing=0.1), 5, seed=1)
    assert not torch.equal(other_seed(x, y, step=7)[0], xa)


def test_recipe_leaves_global_rng_as_found():
    recipe = BatchRecipe(_train_cfg(mixup=0.8, cutmix=1.0, random_erase=1.0), 5, seed=0)
    torch.manual_seed(3)
    recipe(*_batch(), step=1)
    after = torch.rand(2)
    torch.manual_seed(3)
    assert torch.equal(after, torch.rand(2))


def test_random_erasing_changes_images_and_keeps_labels():
    x, y = _batch()
    xe, ye = BatchRecipe(_train_cfg(random_erase=1.0), 5, seed=0)(x, y, step=0)
    assert torch.equal(ye, y) and ye.ndim == 1  # hard labels: no mixing
    changed = (xe != x).flatten(1).any(1)
    assert changed.all()  # probability 1: every image has a box
    assert not (xe != x).flatten(1).all(1).any()  # ... a box, not the whole image
    assert torch.equal(x, _batch()[0])  # the input batch is not erased in place
    kept, _ = BatchRecipe(_train_cfg(random_erase=0.0, mixup=0.0), 5, seed=0)(x, y, step=0)
    assert torch.equal(kept, x)


def _boxes(erased: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per erased image of an all-zero batch (noise is never exactly 0): box top, left, h, w."""
    hit = erased.ne(0).any(1)  # (N, H, W)
    keep = hit.flatten(1).any(1)
    rows, cols = hit[keep].any(2), hit[keep].any(1)
    return {
        "erased": keep.float(),
        "h": rows.sum(1).float(),
        "w": cols.sum(1).float(),
        "top": rows.float().argmax(1).float(),
        "left": cols.float().argmax(1).float(),
        "noise": erased[erased.ne(0)],
    }


@pytest.mark.parametrize("side", [(16, 24), (3, 40)])
def test_batched_random_erasing_draws_timms_distribution(side):
    """4,000 images through timm's per-image RandomErasing(p=0.4, mode='pixel') and through the
    batched version: the same share of images erased, the same distributions of box height, width,
    top and left (two-sample Kolmogorov-Smirnov, p > 0.001 for each, fixed seeds), standard normal
    noise in the box. At 3x40 most attempts do not fit, so the attempts and the fit rule show."""
    import random

    from scipy.stats import ks_2samp
    from timm.data.random_erasing import RandomErasing

    from ablate.train.recipe import random_erasing

    n, shape = 4000, (3, *side)
    random.seed(0)
    torch.manual_seed(0)
    ours = random_erasing(torch.zeros(n, *shape), 0.4, torch.Generator().manual_seed(1))
    timm = RandomErasing(0.4, mode="pixel", max_count=1, device="cpu")(torch.zeros(n, *shape))
    a, b = _boxes(ours), _boxes(timm)
    share_a, share_b = a["erased"].mean().item(), b["erased"].mean().item()
    assert abs(share_a - share_b) < 0.045, (share_a, share_b)  # ~4 sigma of the difference
    for key in ("h", "w", "top", "left"):
        p = ks_2samp(a[key].numpy(), b[key].numpy()).pvalue
        assert p > 1e-3, (key, p, a[key].mean().item(), b[key].mean().item())
    assert abs(a["noise"].mean().item()) < 0.01 and abs(a["noise"].std().item() - 1) < 0.01


def test_batched_random_erasing_is_seeded_and_leaves_the_input():
    from ablate.train.recipe import random_erasing

    x = torch.randn(64, 3, 16, 16)
    before = x.clone()
    first = random_erasing(x, 0.5, torch.Generator().manual_seed(3))
    assert torch.equal(first, random_erasing(x, 0.5, torch.Generator().manual_seed(3)))
    assert not torch.equal(first, random_erasing(x, 0.5, torch.Generator().manual_seed(4)))
    assert torch.equal(random_erasing(x, 0.0, torch.Generator().manual_seed(3)), x)
    assert not torch.equal(first, x) and torch.equal(x, before)  # a copy: the batch itself is kept


def test_soft_target_loss_matches_cross_entropy_on_one_hot():
    logits = torch.randn(4, 5)
    y = torch.tensor([0, 1, 2, 3])
    onehot = torch.nn.functional.one_hot(y, 5).float()
    assert torch.allclose(soft_target_loss(logits, onehot), nn.functional.cross_entropy(logits, y))


class _Log:
    def __init__(self):
        self.logged = {}


def test_classifier_uses_soft_loss_and_argmax_error_with_mixup(monkeypatch):
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 5))
    optim = {**C.DEFAULTS["optim"]}
    recipe = BatchRecipe(_train_cfg(mixup=0.8, label_smoothing=0.1), 5, seed=0)
    module = Classifier(net, 5, optim, C.DEFAULTS["schedule"], 10, batch_transform=recipe)
    monkeypatch.setattr(Classifier, "trainer", property(lambda self: _FakeTrainer()), raising=False)
    x, y = _batch()
    loss = module.training_step((x, y), 0)
    xm, ym = recipe(x, y, step=0)
    assert torch.allclose(loss, soft_target_loss(net(xm), ym))
    # The step's training error (read from the training window) is against the mixed target's argmax.
    means, _ = module.train_window.read()
    assert means["train/error"] == pytest.approx(float((net(xm).argmax(1) != ym.argmax(1)).float().mean()))
    plain = Classifier(net, 5, optim, C.DEFAULTS["schedule"], 10, label_smoothing=0.1)
    assert torch.allclose(plain.training_step((x, y), 0), nn.functional.cross_entropy(net(x), y, label_smoothing=0.1))


class _FakeTrainer:
    global_step = 0
    optimizers = [torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)]
    should_stop = False


def test_ema_tracks_weights_and_round_trips_through_its_state():
    net = nn.Linear(4, 2)
    ema = WeightEma(decay=0.5)

    class M:
        model = net

    def step(n):
        ema.on_train_batch_end(
            type("T", (), {"global_step": n})(), M, outputs=torch.tensor(0.0), batch=None, batch_idx=0
        )

    ema.on_train_start(None, M)
    step(1)  # timm: the first update copies the weights
    before = net.weight.detach().clone()
    assert torch.equal(ema.ema.module.weight, before)
    with torch.no_grad():
        net.weight.add_(1.0)
    step(2)  # decay 0.5: the EMA moves half-way to the new weights
    assert torch.allclose(ema.ema.module.weight, before + 0.5)
    assert not torch.allclose(ema.ema.module.weight, net.weight)
    restored = WeightEma(decay=0.5)
    restored.load_state_dict(ema.state_dict())
    restored.on_train_start(None, M)
    assert torch.equal(restored.ema.module.weight, ema.ema.module.weight)


@pytest.mark.parametrize(
    "key, value",
    [("train.mixup", -0.1), ("train.random_erase", 1.5), ("train.ema_decay", 1.0), ("train.mixup_prob", "x")],
)
def test_recipe_keys_validated(key, value):
    from ablate.errors import ExperimentError
    from ablate.experiment import load_experiment

    with pytest.raises(ExperimentError, match=key.replace(".", r"\.")):
        load_experiment("degradation", overrides=[f"{key}={json.dumps(value)}"])
