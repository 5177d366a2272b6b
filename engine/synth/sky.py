"""The sky and the weather of a street (Weather, WEATHERS, vary) and the sky's colour per ray."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from engine.synth.common import _LIGHTS
from engine.synth.textures import _fbm


@dataclass(frozen=True)
class Weather:
    """The sky and light of a street: the sky's colours at the horizon and the zenith (and
    of its clouds, covering `cloud_cover` of it, 0-1), the glow around the key light, the
    light's colour times the surfaces' shading, and the fog's visibility in metres (0: no
    fog; surfaces fade to the horizon colour as 1 - exp(-distance / visibility))."""

    horizon: tuple[float, float, float]
    zenith: tuple[float, float, float]
    cloud: tuple[float, float, float] = (0.97, 0.97, 0.96)
    cloud_cover: float = 0.9
    glow: float = 1.0
    light: tuple[float, float, float] = (1.0, 1.0, 1.0)
    visibility: float = 0.0


WEATHERS = {
    # the sample street's: a clear day with soft clouds
    "clear": Weather(horizon=(0.80, 0.86, 0.92), zenith=(0.25, 0.45, 0.82)),
    # after sunset: a deep blue sky, dark surfaces
    "dusk": Weather(
        horizon=(0.36, 0.42, 0.60),
        zenith=(0.05, 0.09, 0.26),
        cloud=(0.22, 0.24, 0.34),
        cloud_cover=0.5,
        glow=0.15,
        light=(0.32, 0.34, 0.45),
    ),
    # a grey sky, flat light, a little haze
    "overcast": Weather(
        horizon=(0.80, 0.81, 0.83),
        zenith=(0.60, 0.62, 0.66),
        cloud=(0.70, 0.71, 0.73),
        cloud_cover=1.0,
        glow=0.0,
        light=(0.78, 0.78, 0.80),
        visibility=400.0,
    ),
    # fog: a white-grey sky and everything far fading into it
    "fog": Weather(
        horizon=(0.78, 0.79, 0.80),
        zenith=(0.70, 0.71, 0.73),
        cloud=(0.76, 0.77, 0.78),
        cloud_cover=0.6,
        glow=0.0,
        light=(0.75, 0.75, 0.76),
        visibility=45.0,
    ),
    # the sun low: an orange horizon under a blue-violet sky, warm light
    "sunset": Weather(
        horizon=(0.98, 0.62, 0.36),
        zenith=(0.28, 0.32, 0.58),
        cloud=(0.95, 0.70, 0.55),
        cloud_cover=0.6,
        glow=1.5,
        light=(0.95, 0.75, 0.58),
    ),
}
"""The weathers a street can have (StreetScene.weather); the depth network trains on all."""


def vary(weather: Weather, rng: random.Random, amount: float = 1.0) -> Weather:
    """Another weather like `weather`: each colour moved by up to 0.08 x amount per channel
    (the sky's) or scaled by up to 20% (the light), the cloud cover by up to 0.2 and the
    fog's visibility by a factor up to 2 either way, drawn from `rng`."""

    def colour(c, spread=0.08 * amount):
        return tuple(min(1.0, max(0.0, v + rng.uniform(-spread, spread))) for v in c)

    gain = 1.0 + rng.uniform(-0.2, 0.2) * amount
    return replace(
        weather,
        horizon=colour(weather.horizon),
        zenith=colour(weather.zenith),
        cloud=colour(weather.cloud),
        cloud_cover=min(1.0, max(0.0, weather.cloud_cover + rng.uniform(-0.2, 0.2) * amount)),
        light=tuple(min(1.2, v * gain) for v in colour(weather.light, 0.04 * amount)),
        visibility=weather.visibility * 2.0 ** rng.uniform(-amount, amount),
    )


_HAZE = (0.70, 0.72, 0.74)  # below the horizon, beyond the end of the ground


_SUN_GLOW = (1.0, 0.88, 0.65)


def _sky_colour(dirs: Tensor, seed: int, weather: Weather = WEATHERS["clear"]) -> Tensor:
    """(Q,3) colour of rays (Q,3) that escape, from their direction only: a gradient from
    the horizon to the zenith, a glow around the key light's direction and soft clouds on a
    plane above (fading towards the horizon); haze below the horizon. Colours: `weather`'s."""
    d = dirs / dirs.norm(dim=1, keepdim=True)
    rise = -d[:, 1]  # sine of the elevation (+y is down)
    horizon, zenith = torch.tensor(weather.horizon), torch.tensor(weather.zenith)
    haze = torch.tensor(_HAZE) if not weather.visibility else horizon
    colour = torch.lerp(horizon, zenith, rise.clamp(min=0.0).pow(0.6)[:, None])
    colour = torch.where(
        (rise < 0)[:, None],
        torch.lerp(horizon, haze, (-8.0 * rise).clamp(max=1.0)[:, None]),
        colour,
    )
    sun = torch.tensor(_LIGHTS[0][0])
    closeness = d @ (sun / sun.norm()) - 1.0  # cos(angle to the sun) - 1, in [-2, 0]
    glow = 0.35 * torch.exp(30.0 * closeness) + 0.5 * torch.exp(2000.0 * closeness)
    colour = colour + weather.glow * glow[:, None] * torch.tensor(_SUN_GLOW)
    # Clouds: the point where the ray meets a plane above, at the same height for every ray.
    reach = 1.0 / rise.clamp(min=0.05)
    seeds = torch.full_like(rise, seed * 7919 + 12345, dtype=torch.int64)
    density = _fbm(d[:, 0] * reach * 1.5, d[:, 2] * reach * 1.5, seeds, 5)
    cover = ((density - 0.48) / 0.22).clamp(0.0, 1.0)
    cover = cover * cover * (3 - 2 * cover) * ((rise - 0.02) / 0.2).clamp(0.0, 1.0)
    shade = 0.85 + 0.15 * _fbm(d[:, 0] * reach * 6.0, d[:, 2] * reach * 6.0, seeds + 1, 2)
    cloud = torch.tensor(weather.cloud) * shade[:, None]
    return torch.lerp(colour, cloud, (weather.cloud_cover * cover)[:, None]).clamp(0.0, 1.0)
