"""The desktop integration files in packaging/: the .desktop entry, the AppStream metainfo and
the icon agree with each other and with the program (its ID, command, version)."""

import configparser
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import engine

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"
APP_ID = "org.latentscape.Latentscape"
DESKTOP = PACKAGING / f"{APP_ID}.desktop"
METAINFO = PACKAGING / f"{APP_ID}.metainfo.xml"


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def test_the_desktop_entry_starts_the_explorer_with_the_icon():
    entry = desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[:2] == ["latentscape", "explore"]  # a photo as SOURCE
    assert entry["Icon"] == APP_ID
    assert entry["Categories"].endswith(";")
    assert (PACKAGING / "latentscape.svg").is_file() and (PACKAGING / "latentscape.png").is_file()


def test_the_metainfo_names_the_entry_and_the_version():
    root = ET.parse(METAINFO).getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == DESKTOP.name
    assert root.find("provides/binary").text == "latentscape"
    assert root.find("description/p") is not None and root.findtext("summary")
    versions = [r.get("version") for r in root.iter("release")]
    assert versions[0] == engine.__version__  # newest first
    categories = [c.text for c in root.iter("category")]
    assert categories == [c for c in desktop_entry()["Categories"].split(";") if c]


@pytest.mark.parametrize(
    ("tool", "args", "path"),
    [
        ("desktop-file-validate", [], DESKTOP),
        ("appstreamcli", ["validate", "--no-net"], METAINFO),
    ],
)
def test_the_files_pass_the_freedesktop_validators(tool, args, path):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (Debian: desktop-file-utils, appstream)")
    run = subprocess.run([tool, *args, str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
