import threading

import pytest

from realtime_nb.engine.models import MODEL_NAMES, Models, ModelUnavailableError, SileroVad
from realtime_nb.engine.models.__main__ import main


def test_each_model_loads_once_even_under_concurrent_first_use(monkeypatch):
    models = Models()
    created = []
    real_init = SileroVad.__init__

    def counting_init(self, *args, **kwargs):
        created.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(SileroVad, "__init__", counting_init)
    barrier = threading.Barrier(6)
    got = []

    def worker():
        barrier.wait()
        got.append(models.vad())

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(created) == 1 and all(m is created[0] for m in got)
    assert models.is_loaded("vad") and not models.is_loaded("turn")
    assert set(models.load_seconds) == {"vad"}


def test_shared_is_one_instance():
    assert Models.shared() is Models.shared()


def test_preload_reports_times_and_keeps_going_without_an_optional_model(monkeypatch):
    models = Models()

    def no_voice():
        raise ModelUnavailableError("speech synthesis needs the voice extra")

    monkeypatch.setattr(models, "voice", no_voice)
    result = models.preload(["vad", "turn", "voice"])
    assert set(result) == {"vad", "turn", "voice"}
    assert isinstance(result["voice"], ModelUnavailableError)
    assert result["vad"] >= 0 and result["turn"] >= 0
    with pytest.raises(ModelUnavailableError):
        models.preload(["voice"], strict=True)


def test_bad_names():
    models = Models()
    with pytest.raises(ValueError, match="unknown model"):
        models.preload(["vad", "gpt"])
    with pytest.raises(ValueError, match="unknown model"):
        models.load("whisper-large")
    assert "far_field" in MODEL_NAMES


def test_check_command_without_flag_prints_help(capsys):
    assert main([]) == 2
    assert "--check" in capsys.readouterr().out
