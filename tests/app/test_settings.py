"""Settings: stored and read back, bad stored values dropped by name, model folders scanned,
backends checked the way the engine will make them, the dialog refuses what the engine would."""

import json

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialogButtonBox

from app.settings import (
    SettingsDialog,
    autosave_every,
    backend_problem,
    load_config,
    scan_models,
    store_config,
)
from engine.world import WorldConfig

pytestmark = pytest.mark.gui


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def test_config_round_trips_and_only_changes_are_stored(settings):
    assert load_config(settings) == (WorldConfig(), [])
    config = WorldConfig(width=256, height=192, seed=7, memory_budget_mib=12.5)
    store_config(settings, config)
    assert json.loads(settings.value("world/config")) == {
        "width": 256,
        "height": 192,
        "seed": 7,
        "memory_budget_mib": 12.5,
    }
    assert load_config(settings) == (config, [])


def test_bad_stored_values_are_dropped_by_name(settings):
    settings.setValue("world/config", json.dumps({"width": 2, "seed": 3, "colour": "red"}))
    config, problems = load_config(settings)
    assert config == WorldConfig(seed=3)
    assert any("width=2" in p for p in problems) and any("'colour'" in p for p in problems)
    settings.setValue("world/config", "{ not json")
    config, problems = load_config(settings)
    assert config == WorldConfig() and "unreadable" in problems[0]
    settings.setValue("autosave/every", "often")
    assert autosave_every(settings) == 3


def test_model_folders_are_scanned(tmp_path):
    pipeline = tmp_path / "models" / "sd-inpaint"
    (pipeline / "vae").mkdir(parents=True)
    (pipeline / "model_index.json").write_text("{}")
    (pipeline / "vae" / "config.json").write_text("{}")
    vae = tmp_path / "models" / "tiny-vae"
    vae.mkdir()
    (vae / "config.json").write_text("{}")
    (tmp_path / "models" / "notes").mkdir()
    found = scan_models([str(tmp_path / "models"), str(tmp_path / "missing")])
    assert found["generator"] == [f"diffusers-inpaint:{pipeline}"]
    assert sorted(found["codec"]) == sorted([f"diffusers:{pipeline / 'vae'}", f"diffusers:{vae}"])


def test_backend_problems_name_what_is_wrong(tmp_path):
    assert backend_problem("codec", "embedded") is None
    assert backend_problem("generator", "embedded") is None
    assert "unknown codec backend 'bogus'" in backend_problem("codec", "bogus")
    assert "does not exist" in backend_problem("codec", f"pca:{tmp_path / 'none.safetensors'}")
    missing = backend_problem("generator", f"diffusers-inpaint:{tmp_path / 'nowhere'}")
    assert missing is not None and ("does not exist" in missing or "not installed" in missing)


def test_dialog_refuses_a_config_the_engine_would_refuse_and_stores_a_good_one(
    qtbot, settings, tmp_path
):
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert ok.isEnabled()
    dialog.backend["codec"].setCurrentText("bogus")
    assert not ok.isEnabled() and "unknown codec backend" in dialog.backend_state["codec"].text()
    dialog.backend["codec"].setCurrentText("embedded")
    assert ok.isEnabled()
    # a folder with a checkpoint adds its backend names
    vae = tmp_path / "vae"
    vae.mkdir()
    (vae / "config.json").write_text("{}")
    dialog.add_folder(str(vae))
    assert dialog.backend["codec"].findText(f"diffusers:{vae}") >= 0
    dialog.width_box.setValue(256)
    dialog.height_box.setValue(192)
    dialog.seed_box.setValue(11)
    dialog.autosave_box.setValue(5)
    dialog.accept()
    assert dialog.config() == WorldConfig(width=256, height=192, seed=11)
    again = SettingsDialog(settings)
    qtbot.addWidget(again)
    assert again.width_box.value() == 256 and again.seed_box.value() == 11
    assert again.folders.count() == 1 and autosave_every(settings) == 5


def test_a_wan_vace_pipeline_folder_is_found_as_a_video_generator(tmp_path):
    wan = tmp_path / "models" / "wan-vace"
    (wan / "vae").mkdir(parents=True)
    (wan / "model_index.json").write_text('{"_class_name": "WanVACEPipeline"}')
    (wan / "vae" / "config.json").write_text("{}")
    found = scan_models([str(tmp_path / "models")])
    assert found["generator"] == [f"diffusers-wan-vace:{wan}"]
    assert found["codec"] == [f"diffusers:{wan / 'vae'}"]
    assert backend_problem("generator", "diffusers-wan-vace:random-tiny") is None
    assert backend_problem("codec", "wan-random:tiny") is None


def test_the_device_is_chosen_and_a_missing_gpu_refused_by_name(qtbot, settings):
    import torch

    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    dialog.device_box.setCurrentText("tpu")
    assert not ok.isEnabled() and "device must be" in dialog.problem.text()
    if not torch.cuda.is_available():
        dialog.device_box.setCurrentText("cuda")
        assert not ok.isEnabled() and "no CUDA GPU" in dialog.problem.text()
    dialog.device_box.setCurrentText("auto")
    assert ok.isEnabled()
    dialog.accept()
    assert dialog.config().device == "auto"
