"""Coordinates from Chinese map apps (GCJ-02, BD-09) normalised to WGS-84, and distances."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Datum(StrEnum):
    WGS84 = "wgs84"  # GPS, OpenStreetMap, most foreign maps
    GCJ02 = "gcj02"  # 火星坐标: 高德 AMap, 腾讯 Tencent, Google China
    BD09 = "bd09"  # 百度坐标: Baidu


@dataclass(frozen=True, slots=True)
class Point:
    latitude: float
    longitude: float


# The obfuscation is only defined for a rough box around China; every published implementation
# uses the same box, so we do too, or points near its edge would disagree with the map apps.
_CHINA_MIN_LON, _CHINA_MAX_LON = 72.004, 137.8347
_CHINA_MIN_LAT, _CHINA_MAX_LAT = 0.8293, 55.8271

# GCJ-02 measures its offsets in metres on the Krasovsky 1940 ellipsoid (not WGS-84's).
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_E2 = 0.00669342162296594323

# BD-09 perturbs GCJ-02 in polar form around (0, 0), then shifts by a fixed offset (degrees).
_BAIDU_FREQUENCY = math.pi * 3000.0 / 180.0
_BAIDU_RADIUS_RIPPLE = 0.00002
_BAIDU_ANGLE_RIPPLE = 0.000003
_BAIDU_LAT_SHIFT, _BAIDU_LON_SHIFT = 0.006, 0.0065

# Inverses are solved by iteration rather than by the common one-step approximation, which is
# off by metres for GCJ-02 and by centimetres for BD-09. 1e-12 degrees is far below 1 mm.
_INVERSE_TOLERANCE_DEG = 1e-12
_INVERSE_MAX_STEPS = 20

_EARTH_MEAN_RADIUS_M = 6371008.8  # IUGG mean radius R1: the sphere best fitting the ellipsoid


def out_of_china(p: Point) -> bool:
    """Whether the point lies outside the box in which GCJ-02 and BD-09 differ from WGS-84."""
    inside = (
        _CHINA_MIN_LON <= p.longitude <= _CHINA_MAX_LON
        and _CHINA_MIN_LAT <= p.latitude <= _CHINA_MAX_LAT
    )
    return not inside


def _gcj_offset_m(x: float, y: float) -> tuple[float, float]:
    """The published GCJ-02 offset (north, east) in metres, at x = lon - 105, y = lat - 35."""
    # A low-order polynomial plus sine ripples; the two fastest ripples (in x) are common to both.
    shared = 20.0 * (math.sin(6.0 * math.pi * x) + math.sin(2.0 * math.pi * x))
    north_waves = (
        shared
        + 20.0 * math.sin(math.pi * y)
        + 40.0 * math.sin(math.pi * y / 3.0)
        + 160.0 * math.sin(math.pi * y / 12.0)
        + 320.0 * math.sin(math.pi * y / 30.0)
    )
    east_waves = (
        shared
        + 20.0 * math.sin(math.pi * x)
        + 40.0 * math.sin(math.pi * x / 3.0)
        + 150.0 * math.sin(math.pi * x / 12.0)
        + 300.0 * math.sin(math.pi * x / 30.0)
    )
    north = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    east = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    return north + north_waves * 2.0 / 3.0, east + east_waves * 2.0 / 3.0


def _gcj_shift_deg(latitude: float, longitude: float) -> tuple[float, float]:
    """The GCJ-02 offset (d_lat, d_lon) in degrees that applies at a WGS-84 position."""
    north_m, east_m = _gcj_offset_m(longitude - 105.0, latitude - 35.0)
    phi = math.radians(latitude)
    w2 = 1.0 - _KRASOVSKY_E2 * math.sin(phi) ** 2
    # Metres to degrees: along a meridian by its radius of curvature M, along a parallel by the
    # parallel's radius N·cos φ.
    meridian_radius = _KRASOVSKY_A * (1.0 - _KRASOVSKY_E2) / (w2 * math.sqrt(w2))
    parallel_radius = _KRASOVSKY_A / math.sqrt(w2) * math.cos(phi)
    return math.degrees(north_m / meridian_radius), math.degrees(east_m / parallel_radius)


def wgs84_to_gcj02(p: Point) -> Point:
    if out_of_china(p):
        return p
    d_lat, d_lon = _gcj_shift_deg(p.latitude, p.longitude)
    return Point(p.latitude + d_lat, p.longitude + d_lon)


def gcj02_to_wgs84(p: Point) -> Point:
    """The exact inverse of `wgs84_to_gcj02`, by fixed-point iteration on w = p - shift(w).

    The shift changes by well under 1% of a step across the few hundred metres it moves a point,
    so each step gains more than two digits; six steps at most reach the tolerance.
    """
    if out_of_china(p):
        return p
    lat, lon = p.latitude, p.longitude
    for _ in range(_INVERSE_MAX_STEPS):
        d_lat, d_lon = _gcj_shift_deg(lat, lon)
        next_lat, next_lon = p.latitude - d_lat, p.longitude - d_lon
        converged = (
            abs(next_lat - lat) < _INVERSE_TOLERANCE_DEG
            and abs(next_lon - lon) < _INVERSE_TOLERANCE_DEG
        )
        lat, lon = next_lat, next_lon
        if converged:
            break
    return Point(lat, lon)


def _baidu_forward(latitude: float, longitude: float) -> tuple[float, float]:
    radius = math.hypot(longitude, latitude)
    radius += _BAIDU_RADIUS_RIPPLE * math.sin(latitude * _BAIDU_FREQUENCY)
    angle = math.atan2(latitude, longitude)
    angle += _BAIDU_ANGLE_RIPPLE * math.cos(longitude * _BAIDU_FREQUENCY)
    return (
        radius * math.sin(angle) + _BAIDU_LAT_SHIFT,
        radius * math.cos(angle) + _BAIDU_LON_SHIFT,
    )


def gcj02_to_bd09(p: Point) -> Point:
    # Baidu documents that outside China its maps use WGS-84 as is
    # (https://lbs.baidu.com/faq/api?title=androidsdk/guide/tool/coordinate), so BD-09 is the
    # identity wherever GCJ-02 is.
    if out_of_china(p):
        return p
    return Point(*_baidu_forward(p.latitude, p.longitude))


def bd09_to_gcj02(p: Point) -> Point:
    """The exact inverse of `gcj02_to_bd09`, refining the usual closed-form approximation."""
    if out_of_china(p):
        return p
    # The closed form undoes the shift and the ripples, but evaluates the ripples at the BD-09
    # position instead of the GCJ-02 one, which leaves up to ~2e-6 degrees (20 cm). Feeding the
    # forward transform's residual back a few times removes it: the forward map is the identity
    # plus a rotation and ripples whose slope is a few percent, so each step gains a digit or more.
    x, y = p.longitude - _BAIDU_LON_SHIFT, p.latitude - _BAIDU_LAT_SHIFT
    radius = math.hypot(x, y) - _BAIDU_RADIUS_RIPPLE * math.sin(y * _BAIDU_FREQUENCY)
    angle = math.atan2(y, x) - _BAIDU_ANGLE_RIPPLE * math.cos(x * _BAIDU_FREQUENCY)
    lat, lon = radius * math.sin(angle), radius * math.cos(angle)
    for _ in range(_INVERSE_MAX_STEPS):
        bd_lat, bd_lon = _baidu_forward(lat, lon)
        d_lat, d_lon = p.latitude - bd_lat, p.longitude - bd_lon
        lat, lon = lat + d_lat, lon + d_lon
        if abs(d_lat) < _INVERSE_TOLERANCE_DEG and abs(d_lon) < _INVERSE_TOLERANCE_DEG:
            break
    return Point(lat, lon)


def to_wgs84(p: Point, datum: Datum) -> Point:
    match datum:
        case Datum.GCJ02:
            return gcj02_to_wgs84(p)
        case Datum.BD09:
            return gcj02_to_wgs84(bd09_to_gcj02(p))
    return p


def distance_m(a: Point, b: Point) -> float:
    """Great-circle (haversine) distance in metres between WGS-84 points, on the mean sphere.

    The sphere is within about 0.5% of the ellipsoid everywhere, ample for "is this the same place".
    """
    phi_a, phi_b = math.radians(a.latitude), math.radians(b.latitude)
    d_phi = phi_b - phi_a
    d_lambda = math.radians(b.longitude - a.longitude)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi_a) * math.cos(phi_b) * math.sin(d_lambda / 2) ** 2
    # Rounding can push h a hair above 1 for antipodal points, outside asin's domain.
    return 2.0 * _EARTH_MEAN_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
