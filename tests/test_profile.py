import pytest
import torch

from ftlib.profile import PROFILES, Profile, banner, get_profile, seed_everything, setup


@pytest.mark.parametrize("name", PROFILES)
def test_get_profile_by_name(name):
    profile = get_profile(name)
    assert isinstance(profile, Profile) and profile.name == name
    assert profile.device == ("cuda" if name == "gpu" else "cpu")


def test_env_overrides_and_default(monkeypatch):
    monkeypatch.setenv("FTLIB_PROFILE", "smoke")
    assert get_profile().name == "smoke"
    monkeypatch.setenv("FTLIB_PROFILE", " CPU ")
    assert get_profile().name == "cpu"
    monkeypatch.delenv("FTLIB_PROFILE")
    assert get_profile().name == ("gpu" if torch.cuda.is_available() else "cpu")


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FTLIB_PROFILE", "tpu")
    with pytest.raises(ValueError, match="unknown profile 'tpu'.*gpu"):
        get_profile()


def test_pick():
    assert [get_profile(n).pick(gpu=3, cpu=2, smoke=1) for n in ("gpu", "cpu", "smoke")] == [3, 2, 1]


def test_seed_everything_repeats():
    seed_everything(7)
    a = torch.rand(3), torch.randint(10, (3,))
    seed_everything(7)
    b = torch.rand(3), torch.randint(10, (3,))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_banner_and_setup(capsys):
    import peft
    import transformers

    text = banner(get_profile("smoke"))
    for expected in ("profile      : smoke", torch.__version__, transformers.__version__, peft.__version__):
        assert expected in text
    profile = setup("smoke", seed=1)
    assert profile.name == "smoke"
    assert "profile      : smoke" in capsys.readouterr().out
