"""Render packaging/latentscape.svg to packaging/latentscape.png (256 x 256) with Qt's SVG
renderer, the one the app itself ships with. Run after editing the SVG:

    QT_QPA_PLATFORM=offscreen python packaging/render_icon.py
"""

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

HERE = Path(__file__).resolve().parent
SIZE = 256


def render(svg: Path, png: Path, size: int = SIZE) -> None:
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    if not image.save(str(png)):
        raise OSError(f"could not write {png}")


if __name__ == "__main__":
    app = QGuiApplication(sys.argv[:1])
    render(HERE / "latentscape.svg", HERE / "latentscape.png")
    print(f"wrote {HERE / 'latentscape.png'}")
