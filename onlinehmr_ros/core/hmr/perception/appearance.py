"""What a person looks like: colour histograms of body regions located by the landmarks (ROS-free).

The identity cue of the tracker's re-identification (nothing learned, nothing
downloaded): clothing colour survives crossings, occlusions and leaving the
view, where position and motion do not. Each region is a polygon spanned by
landmarks (BlazePose's 33):

* ``torso``: shoulders and hips (the shirt);
* ``legs``: hips to knees, as two thick segments (the trousers);
* ``head``: a disc around the nose and ears (hair, skin).

A region is measured only when its landmarks are visible (visibility >= the
threshold) and it spans enough pixels. Pixels covered by a nearer person (the
``occluders`` polygons, e.g. the torso and legs of people standing in front)
are left out, so a person half-hidden behind another is described by what is
left of them. The histogram of a region is hue x saturation for chromatic
pixels plus brightness bins for achromatic ones (black, grey, white clothes
have no stable hue), normalised to sum 1. Two descriptors are compared by the
Hellinger distance (``sqrt(1 - Bhattacharyya coefficient)``, in [0, 1]), averaged
over the regions both have, weighted by region.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.hmr.perception.observation import PersonObservation

REGIONS = ('torso', 'legs', 'head')
_REGION_WEIGHT = np.array([1.0, 0.8, 0.4])
_SHOULDERS, _HIPS, _KNEES = (11, 12), (23, 24), (25, 26)
_NOSE, _EARS = 0, (7, 8)


@dataclass(frozen=True)
class AppearanceConfig:
    """Settings of :func:`describe`.

    Attributes:
        hue_bins, saturation_bins: chromatic histogram bins.
        value_bins: brightness bins of the achromatic pixels.
        min_saturation, min_value: a pixel with lower saturation or value (0-255) is achromatic.
        min_visibility: landmark visibility for a region to be measured.
        min_pixels: fewest unoccluded pixels for a region histogram.
        max_side_px: the person's box is resized so that its longer side is at most this (speed).
        torso_shrink: the torso polygon is shrunk towards its centre by this fraction (keeps arms
            and background at its edges out).
        leg_width_frac: half-width of a thigh region as a fraction of the hip-knee length.
        hue_smoothing: spread each chromatic count over the neighbouring hue bins (1-2-1), so that
            shading that moves a colour across a bin border changes the histogram little.
    """

    hue_bins: int = 12
    saturation_bins: int = 3
    value_bins: int = 4
    min_saturation: int = 50
    min_value: int = 40
    min_visibility: float = 0.5
    min_pixels: int = 40
    max_side_px: int = 96
    torso_shrink: float = 0.2
    leg_width_frac: float = 0.15
    hue_smoothing: bool = True

    def __post_init__(self):
        if min(self.hue_bins, self.saturation_bins, self.value_bins) < 1 or self.min_pixels < 1:
            raise InputError('appearance bins and min_pixels must be >= 1')
        if self.max_side_px < 16:
            raise InputError(f'max_side_px must be >= 16, got {self.max_side_px}')

    @property
    def num_bins(self) -> int:
        return self.hue_bins * self.saturation_bins + self.value_bins


@dataclass(frozen=True)
class Appearance:
    """Region histograms of one person in one image.

    Attributes:
        histograms: (R, B) float32, one normalised histogram per region of :data:`REGIONS`
            (rows of NaN where the region was not measured).
        visible_fraction: (R,) share of each region's pixels not covered by an occluder (0 if not measured).
    """

    histograms: np.ndarray
    visible_fraction: np.ndarray

    @property
    def measured(self) -> np.ndarray:
        """(R,) bool, regions with a histogram."""
        return np.all(np.isfinite(self.histograms), axis=1)

    @property
    def clean(self) -> bool:
        """Torso measured and nearly unoccluded: fit to update a person's appearance memory."""
        return bool(self.measured[0] and self.visible_fraction[0] >= 0.9)


def _region_polygons(lm: np.ndarray, vis: np.ndarray, min_vis: float, torso_shrink: float = 0.0,
                     leg_width_frac: float = 0.18) -> list[np.ndarray | list[np.ndarray] | None]:
    """Pixel polygons of the regions (None where the landmarks are not visible)."""
    seen = lambda idx: all(vis[i] >= min_vis and np.all(np.isfinite(lm[i])) for i in idx)  # noqa: E731
    out: list = [None, None, None]
    if seen(_SHOULDERS + _HIPS):
        quad = np.array([lm[11], lm[12], lm[24], lm[23]])
        centre = quad.mean(axis=0)
        out[0] = centre + (1.0 - torso_shrink) * (quad - centre)
    legs = []
    for hip, knee in zip(_HIPS, _KNEES):
        if seen((hip, knee)):
            a, b = lm[hip], lm[knee]
            d = b - a
            n = np.array([-d[1], d[0]]) / max(np.linalg.norm(d), 1e-6)
            half = leg_width_frac * np.linalg.norm(d)
            legs.append(np.array([a + n * half, a - n * half, b - n * half, b + n * half]))
    if legs:
        out[1] = legs
    if seen((_NOSE,) + _EARS):
        centre = lm[_NOSE]
        r = 0.6 * np.linalg.norm(lm[_EARS[0]] - lm[_EARS[1]])
        angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
        out[2] = centre + r * np.column_stack([np.cos(angles), np.sin(angles)])
    return out


def describe(image_rgb: np.ndarray, person: PersonObservation, occluders: list[np.ndarray] = (),
             config: AppearanceConfig = AppearanceConfig()) -> Appearance:
    """The :class:`Appearance` of ``person`` in an (H, W, 3) uint8 RGB image.

    Args:
        image_rgb: the frame the person was seen in.
        person: its landmarks (pixels of that frame) and visibility.
        occluders: pixel polygons ((N, 2) arrays) of things in front of the person (other people).
        config: :class:`AppearanceConfig`.
    """
    H, W = image_rgb.shape[:2]
    nb = config.num_bins
    hist = np.full((len(REGIONS), nb), np.nan, dtype=np.float32)
    frac = np.zeros(len(REGIONS), dtype=np.float32)
    polys = _region_polygons(person.landmarks_px.astype(np.float64), person.visibility, config.min_visibility,
                             config.torso_shrink, config.leg_width_frac)
    if all(p is None for p in polys):
        return Appearance(hist, frac)
    box = person.bbox_px
    x0, y0 = int(max(0, np.floor(box[0]))), int(max(0, np.floor(box[1])))
    x1, y1 = int(min(W, np.ceil(box[2]))), int(min(H, np.ceil(box[3])))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return Appearance(hist, frac)
    scale = min(1.0, config.max_side_px / max(x1 - x0, y1 - y0))
    crop = image_rgb[y0:y1, x0:x1]
    if scale < 1.0:
        crop = cv2.resize(crop, (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))),
                          interpolation=cv2.INTER_AREA)
    h, w = crop.shape[:2]
    to_crop = lambda p: np.round((np.asarray(p) - [x0, y0]) * scale).astype(np.int32)  # noqa: E731
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    occ = np.zeros((h, w), np.uint8)
    for poly in occluders:
        cv2.fillPoly(occ, [to_crop(poly)], 1)
    hue = (hsv[..., 0].astype(np.int32) * config.hue_bins) // 180
    sat = np.clip((hsv[..., 1].astype(np.int32) - config.min_saturation) * config.saturation_bins
                  // max(1, 256 - config.min_saturation), 0, config.saturation_bins - 1)
    val = (hsv[..., 2].astype(np.int32) * config.value_bins) // 256
    chromatic = (hsv[..., 1] >= config.min_saturation) & (hsv[..., 2] >= config.min_value)
    bins = np.where(chromatic, hue * config.saturation_bins + sat, config.hue_bins * config.saturation_bins + val)
    for r, poly in enumerate(polys):
        if poly is None:
            continue
        region = np.zeros((h, w), np.uint8)
        for p in (poly if isinstance(poly, list) else [poly]):
            cv2.fillPoly(region, [to_crop(p)], 1)
        inside = region.astype(bool)
        total = int(inside.sum())
        keep = inside & ~occ.astype(bool)
        n = int(keep.sum())
        if total == 0 or n < config.min_pixels:
            continue
        counts = np.bincount(bins[keep], minlength=nb).astype(np.float32)
        if config.hue_smoothing:
            nc = config.hue_bins * config.saturation_bins
            chroma = counts[:nc].reshape(config.hue_bins, config.saturation_bins)
            counts[:nc] = (2 * chroma + np.roll(chroma, 1, axis=0) + np.roll(chroma, -1, axis=0)).ravel() / 4
        hist[r] = counts / counts.sum()
        frac[r] = n / total
    return Appearance(hist, frac)


def appearance_distance(a: Appearance, b: Appearance) -> float:
    """Weighted mean Hellinger distance in [0, 1] over the regions both measured; NaN when none."""
    both = a.measured & b.measured
    if not both.any():
        return float('nan')
    bc = np.sum(np.sqrt(np.clip(a.histograms[both], 0, None) * np.clip(b.histograms[both], 0, None)), axis=1)
    d = np.sqrt(np.clip(1.0 - bc, 0.0, 1.0))
    w = _REGION_WEIGHT[both]
    return float(np.sum(w * d) / np.sum(w))


def occluder_polygons(person: PersonObservation, min_visibility: float = 0.3) -> list[np.ndarray]:
    """Polygons of a person's torso and legs (to leave out of the people behind them)."""
    polys = _region_polygons(person.landmarks_px.astype(np.float64), person.visibility, min_visibility)
    out: list[np.ndarray] = []
    for p in polys:
        if p is None:
            continue
        out.extend(p if isinstance(p, list) else [p])
    return out
