"""The classes of the synthetic dataset: a few objects on a background, and only how they move says the class.

`sample_appearance` draws everything a single frame shows (background colour and texture; each object's shade,
shape, size and anchor, i.e. where it is on average over the clip) without being told the class.
`overlay_expressions` turns a class name and an appearance into, per object, the x/y expressions of `t`
(seconds) that ffmpeg's `overlay` filter evaluates per frame. All objects of a clip share one motion: the class
picks the axis and the kind, a random stream picks speed, amplitude, frequency and phase within ranges that
are the same for every class.

| class                  | offset of every object from its anchor over time (T = clip duration)        |
|------------------------|-----------------------------------------------------------------------------|
| `move_left`/`_right`   | constant speed along x, crossing 35-45 % of the width in T                  |
| `move_up`/`_down`      | constant speed along y, crossing 35-45 % of the height in T                 |
| `oscillate_horizontal` | `A sin(2 pi f t + phase)` along x, A = 12-18 % of the width, f = 1-1.5 Hz    |
| `oscillate_vertical`   | the same along y, A relative to the height                                  |

Every path is centred on the anchor, so the time-averaged position carries no class information either; the
oscillations are also the fast classes (peak speed about five times the constant-speed classes').

The background colour is `128 + U(-spread, spread)` per channel, with `spread` (`background_spread`) small by
default. Appearance that varies from clip to clip is class-independent whatever its range, but a background
colour that varies widely swamps the motion for a small network on a short schedule: with the demo's SlowFast
(R18, width 8, 16 frames at 64 px, SGD as in configs/demo.yaml) on 108 training clips, a fully random RGB
background stays at chance after 20 epochs; 128 +- 8 reaches 30-55 % and a fixed grey 45-100 % after 15 epochs
(two seeds each: the schedule is noisy).
Objects vary more (light or dark, tinted, boxes and discs of several sizes); several objects moving together
strengthen the motion signal.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

CLASSES = (
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "oscillate_horizontal",
    "oscillate_vertical",
)

# class -> (axis it moves along, kind of motion); the other coordinate stays at the anchor
_CLASS_MOTION = {
    "move_left": ("x", "backward"),
    "move_right": ("x", "forward"),
    "move_up": ("y", "backward"),
    "move_down": ("y", "forward"),
    "oscillate_horizontal": ("x", "oscillate"),
    "oscillate_vertical": ("y", "oscillate"),
}

LINEAR_TRAVEL = (0.35, 0.45)  # fraction of the frame's extent crossed in one clip
OSCILLATION_AMPLITUDE = (0.12, 0.18)  # fraction of the frame's extent
OSCILLATION_HZ = (1.0, 1.5)
MAX_EXCURSION = max(LINEAR_TRAVEL[1] / 2, OSCILLATION_AMPLITUDE[1])  # farthest from the anchor, any class
OBJECT_SIZE = (0.18, 0.26)  # side of a square of the object's area, fraction of the frame's short side
OBJECT_ASPECT = (0.8, 1.25)  # width / height
SHAPES = ("box", "disc")
TINT = 12  # each channel of an object's shade is moved by up to this much, independently
LIGHT_LEVEL = (200, 245)  # objects are light or dark, at random
DARK_LEVEL = (10, 55)
MIN_LUMA_CONTRAST = 64  # every object against the background, on 0..255
TEXTURE_STRENGTH = (3, 8)  # ffmpeg `noise` strength of the static background texture

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Sprite:
    """One object: its colour, shape, size in pixels (even) and anchor (its centre on average, in pixels)."""

    colour: Colour
    shape: str  # "box" or "disc"
    size: tuple[int, int]
    anchor: tuple[float, float]


@dataclass(frozen=True)
class Appearance:
    """What one frame shows; drawn without the class."""

    background: Colour
    texture: int  # strength of the static noise texture on the background
    texture_seed: int
    sprites: tuple[Sprite, ...]


def luma(colour: Colour) -> float:
    red, green, blue = colour
    return 0.299 * red + 0.587 * green + 0.114 * blue


def hex_colour(colour: Colour) -> str:
    return "0x{:02x}{:02x}{:02x}".format(*colour)


def sample_appearance(
    rng: random.Random, *, width: int, height: int, objects: int, background_spread: int
) -> Appearance:
    background = _shade(rng, 128, background_spread)
    sprites: list[Sprite] = []
    for _ in range(objects):
        colour = _object_colour(rng)
        while abs(luma(colour) - luma(background)) < MIN_LUMA_CONTRAST:
            colour = _object_colour(rng)
        shape = rng.choice(SHAPES)
        side = rng.uniform(*OBJECT_SIZE) * min(width, height)
        aspect = 1.0 if shape == "disc" else rng.uniform(*OBJECT_ASPECT)
        size = (_even(side * math.sqrt(aspect)), _even(side / math.sqrt(aspect)))
        # far enough from the edges that the farthest excursion of any class keeps the whole object in view
        anchor = tuple(
            rng.uniform(MAX_EXCURSION * extent + half, (1 - MAX_EXCURSION) * extent - half)
            for extent, half in ((width, size[0] / 2), (height, size[1] / 2))
        )
        sprites.append(Sprite(colour=colour, shape=shape, size=size, anchor=anchor))
    return Appearance(
        background=background,
        texture=rng.randint(*TEXTURE_STRENGTH),
        texture_seed=rng.randrange(2**31 - 1),
        sprites=tuple(sprites),
    )


def overlay_expressions(
    label: str, appearance: Appearance, rng: random.Random, *, width: int, height: int, duration_sec: float
) -> tuple[tuple[str, str], ...]:
    """Per sprite, the `overlay` filter's x and y expressions: its top-left corner in pixels as a function of `t`."""
    if label not in _CLASS_MOTION:
        raise ValueError(f"unknown class {label!r}; known: {', '.join(CLASSES)}")
    axis, kind = _CLASS_MOTION[label]
    moving = 0 if axis == "x" else 1
    extent = (width, height)[moving]
    if kind == "oscillate":
        amplitude = rng.uniform(*OSCILLATION_AMPLITUDE) * extent
        angular = 2 * math.pi * rng.uniform(*OSCILLATION_HZ)
        phase = rng.uniform(0, 2 * math.pi)
        offset = f"+{amplitude:.3f}*sin({angular:.5f}*t+{phase:.5f})"
        start = 0.0
    else:
        travel = rng.uniform(*LINEAR_TRAVEL) * extent
        sign = 1 if kind == "forward" else -1
        offset = f"{'+' if sign > 0 else '-'}{travel / duration_sec:.4f}*t"
        start = -sign * travel / 2
    expressions = []
    for sprite in appearance.sprites:
        corner = [sprite.anchor[i] - sprite.size[i] / 2 for i in (0, 1)]
        pair = [f"{value:.3f}" for value in corner]
        pair[moving] = f"{corner[moving] + start:.3f}{offset}"
        expressions.append((pair[0], pair[1]))
    return tuple(expressions)


def disc_alpha_expression(size: int) -> str:
    """A `geq` luma expression that is 255 inside the disc inscribed in a size x size frame and 0 outside.

    Written with `sgn` because ffmpeg's comparison functions take two arguments, and a comma would split the
    filter graph; the radius is nudged so that no pixel lies exactly on the circle (where `sgn` is 0).
    """
    centre = (size - 1) / 2
    radius_squared = size * size / 4 + 0.1
    return f"255*(1+sgn({radius_squared}-(X-{centre})*(X-{centre})-(Y-{centre})*(Y-{centre})))/2"


def _object_colour(rng: random.Random) -> Colour:
    level = rng.uniform(*LIGHT_LEVEL) if rng.random() < 0.5 else rng.uniform(*DARK_LEVEL)
    return _shade(rng, level, TINT)


def _shade(rng: random.Random, level: float, spread: float) -> Colour:
    red, green, blue = (min(255, max(0, round(level + rng.uniform(-spread, spread)))) for _ in range(3))
    return (red, green, blue)


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))
