import torch
import pytest

from cvbook import profile


@pytest.mark.parametrize("value, expected", [("quick", "quick"), ("full", "full"), ("QUICK", "quick")])
def test_explicit_profiles(monkeypatch, value, expected):
    monkeypatch.setenv("CVBOOK_PROFILE", value)
    assert profile.name() == expected


def test_auto_follows_cuda(monkeypatch):
    monkeypatch.setenv("CVBOOK_PROFILE", "auto")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert profile.name() == "full"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert profile.name() == "quick"
    monkeypatch.delenv("CVBOOK_PROFILE")
    assert profile.name() == "quick"


def test_pick(monkeypatch):
    monkeypatch.setenv("CVBOOK_PROFILE", "quick")
    assert profile.pick(quick=2, full=30) == 2
    monkeypatch.setenv("CVBOOK_PROFILE", "full")
    assert profile.pick(quick=2, full=30) == 30


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CVBOOK_PROFILE", "fast")
    with pytest.raises(ValueError, match="quick, full, auto"):
        profile.name()


def test_seed_everything_repeats_random_numbers():
    profile.seed_everything(3)
    a = torch.randn(5), torch.randint(0, 100, (5,))
    profile.seed_everything(3)
    b = torch.randn(5), torch.randint(0, 100, (5,))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_banner_prints_profile_device_versions(monkeypatch, capsys):
    monkeypatch.setenv("CVBOOK_PROFILE", "quick")
    profile.banner(seed=1)
    out = capsys.readouterr().out
    assert "profile: quick" in out and "device:" in out and f"torch {torch.__version__}" in out and "seed:    1" in out
