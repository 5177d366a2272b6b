#!/bin/sh
# Install the Debian packages that Qt (offscreen and xcb), Mesa OpenGL/EGL and Xvfb need.
# As root, missing ones are installed with apt-get; otherwise they are listed with the
# command to install them, and the script carries on (exit 0) so that the rest still runs.
set -eu

PACKAGES="xvfb xauth libgl1-mesa-dri libegl1 libegl-mesa0 libgl1 libopengl0
libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0
libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-xfixes0
libdbus-1-3 libfontconfig1"

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "sysdeps: not a Debian-based system; make sure Qt's xcb libraries, Mesa OpenGL/EGL" \
        "and Xvfb are installed (Debian names: $(echo $PACKAGES))."
    exit 0
fi

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing="$missing $pkg"
done
missing=${missing# }

if [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    echo "sysdeps: installing $missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # shellcheck disable=SC2086  # one word per package
    apt-get install -y --no-install-recommends $missing
else
    echo "sysdeps: these Debian packages are missing: $missing"
    echo "sysdeps: GUI and OpenGL tests may fail or be skipped; install them with:"
    echo "    sudo apt-get install -y --no-install-recommends $missing"
fi
