import itertools
import math
from collections.abc import Callable

import prcoords
import pytest

from services.intake.domain.geo import (
    Datum,
    Point,
    bd09_to_gcj02,
    distance_m,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    to_wgs84,
    wgs84_to_gcj02,
)

Convert = Callable[[Point], Point]


def wgs84_to_bd09(p: Point) -> Point:
    return gcj02_to_bd09(wgs84_to_gcj02(p))


def off_by(actual: Point, expected: Point) -> float:
    """The larger of the two coordinate differences, in degrees."""
    return max(abs(actual.latitude - expected.latitude), abs(actual.longitude - expected.longitude))


# Published pairs, written as Point(latitude, longitude) although most sources print lng, lat.
TIANANMEN = Point(39.915, 116.404)

# Pairs from reference implementations of the same public formulas: the forward transforms are
# deterministic, so these must agree to rounding (1e-8 degrees is about a millimetre).
EXACT_PAIRS: list[tuple[str, Convert, Point, Point]] = [
    # wandergis/coordtransform, README.md ("示例用法"), Tiananmen in Beijing.
    (
        "wandergis Tiananmen wgs84→gcj02",
        wgs84_to_gcj02,
        TIANANMEN,
        Point(39.91640428150164, 116.41024449916938),
    ),
    (
        "wandergis Tiananmen gcj02→bd09",
        gcj02_to_bd09,
        TIANANMEN,
        Point(39.92133699351021, 116.41036949371029),
    ),
    # googollee/eviltransform, python/test.py and go/transform_test.go (the same TESTS table).
    (
        "eviltransform Shanghai wgs84→gcj02",
        wgs84_to_gcj02,
        Point(31.1774276, 121.5272106),
        Point(31.17530398364597, 121.531541859215),
    ),
    (
        "eviltransform Shenzhen wgs84→gcj02",
        wgs84_to_gcj02,
        Point(22.543847, 113.912316),
        Point(22.540796131694766, 113.9171764808363),
    ),
    (
        "eviltransform Beijing wgs84→gcj02",
        wgs84_to_gcj02,
        Point(39.911954, 116.377817),
        Point(39.91334545536069, 116.38404722455657),
    ),
    # dromara/hutool, hutool-core/src/test/java/org/dromara/hutool/core/util/
    # CoordinateUtilTest.java: wgs84toBd09Test, and wgs84toBd09Test2, whose expected value the
    # test credits to the online converter https://tool.lu/coordinate/ (Inner Mongolia/Jilin).
    (
        "hutool Tiananmen wgs84→bd09",
        wgs84_to_bd09,
        TIANANMEN,
        Point(39.922699552216216, 116.41662724378733),
    ),
    (
        "tool.lu via hutool wgs84→bd09",
        wgs84_to_bd09,
        Point(44.99804071, 122.99395597),
        Point(45.0063690918959, 123.00636516028885),
    ),
]


@pytest.mark.parametrize(
    ("convert", "source", "expected"),
    [pytest.param(c, s, e, id=name) for name, c, s, e in EXACT_PAIRS],
)
def test_forward_transforms_match_pairs_published_by_reference_implementations(
    convert: Convert, source: Point, expected: Point
) -> None:
    assert off_by(convert(source), expected) < 1e-8


@pytest.mark.parametrize(
    ("wgs84", "gcj02"),
    [
        pytest.param(source, expected, id=name)
        for name, convert, source, expected in EXACT_PAIRS
        if convert is wgs84_to_gcj02
    ],
)
def test_gcj02_to_wgs84_recovers_the_published_wgs84_point_exactly(
    wgs84: Point, gcj02: Point
) -> None:
    assert off_by(gcj02_to_wgs84(gcj02), wgs84) < 1e-8


def test_bd09_to_gcj02_agrees_with_the_published_one_step_inverse_to_its_own_error() -> None:
    # wandergis/coordtransform, README.md: bd09togcj02(116.404, 39.915). That library (like most)
    # uses the closed-form inverse, which is itself off by up to ~2e-6 degrees; ours iterates, so
    # the two agree only to that, while ours maps back onto the input exactly.
    published = Point(39.90865673957631, 116.39762729119315)
    ours = bd09_to_gcj02(TIANANMEN)
    assert off_by(ours, published) < 1e-6
    assert off_by(gcj02_to_bd09(ours), TIANANMEN) < 1e-12


def test_the_alibaba_cloud_documentation_example_agrees_to_its_six_decimals() -> None:
    # Alibaba Cloud 地址标准化 TransferCoord API reference, response example (Hangzhou):
    # https://help.aliyun.com/zh/address-purification/addrpapi/developer-reference/coordinate-system-conversion
    # Its values are rounded to 6 decimals, so BD-09 agrees to half a unit in the 6th. Its WGS-84
    # is the closed-form (one-step) GCJ-02 inverse, which is metres off the exact one.
    gcj02 = Point(30.279164, 120.026268)
    assert off_by(gcj02_to_bd09(gcj02), Point(30.285238, 120.032768)) < 1e-6
    assert off_by(gcj02_to_wgs84(gcj02), Point(30.281543, 120.021519)) < 2e-5


# hujiulong/gcoord, test/fixtures/china-cities.json: city centres in every datum, rounded to 7
# decimals. Its GCJ-02 and WGS-84 columns disagree with the published formula by a steady
# ~5e-6 degrees (half a metre; gcoord's own tests allow 5e-5), so that pair gets 1e-5; its
# BD-09 column is the formula applied to its GCJ-02 column, to rounding.
CITY_CENTRES = {
    # name: (WGS-84, GCJ-02, BD-09)
    "Beijing": (
        Point(39.9028057, 116.4011517),
        Point(39.9042136, 116.4074002),
        Point(39.9105355, 116.4137852),
    ),
    "Shanghai": (
        Point(31.2323443, 121.4691633),
        Point(31.2304194, 121.4737061),
        Point(31.2363541, 121.4802435),
    ),
    "Guangzhou": (
        Point(23.131788, 113.2590543),
        Point(23.1291146, 113.2643859),
        Point(23.135343, 113.2708188),
    ),
    "Jinan": (
        Point(36.6507807, 117.1138727),
        Point(36.6512191, 117.1200084),
        Point(36.6575731, 117.1264069),
    ),
    "Harbin": (
        Point(45.8017783, 126.528903),
        Point(45.8037804, 126.5349726),
        Point(45.8094074, 126.5415875),
    ),
    "Urumqi": (
        Point(43.824388, 87.6140048),
        Point(43.8255962, 87.6168579),
        Point(43.8317719, 87.6232918),
    ),
    "Lhasa": (
        Point(29.655277, 91.1706414),
        Point(29.6524954, 91.1721167),
        Point(29.6585294, 91.1786184),
    ),
    "Haikou": (
        Point(20.046109, 110.1939936),
        Point(20.0440074, 110.1983008),
        Point(20.049869, 110.2048302),
    ),
}


@pytest.mark.parametrize(("wgs84", "gcj02", "bd09"), CITY_CENTRES.values(), ids=CITY_CENTRES)
def test_city_centres_from_the_gcoord_fixtures_convert_both_ways(
    wgs84: Point, gcj02: Point, bd09: Point
) -> None:
    assert off_by(wgs84_to_gcj02(wgs84), gcj02) < 1e-5
    assert off_by(gcj02_to_wgs84(gcj02), wgs84) < 1e-5
    assert off_by(gcj02_to_bd09(gcj02), bd09) < 2e-7
    assert off_by(bd09_to_gcj02(bd09), gcj02) < 2e-7
    assert off_by(to_wgs84(bd09, Datum.BD09), wgs84) < 1e-5


def grid(
    lat_from: float, lat_to: float, lon_from: float, lon_to: float, step: float
) -> list[Point]:
    lats = [lat_from + i * step for i in range(int((lat_to - lat_from) / step) + 1)]
    lons = [lon_from + i * step for i in range(int((lon_to - lon_from) / step) + 1)]
    return [Point(lat, lon) for lat, lon in itertools.product(lats, lons)]


# From Hainan to Heilongjiang, Xinjiang to the east coast; the odd step avoids round numbers,
# where the transform's sine terms sit at zero.
ACROSS_CHINA = grid(18.1, 53.5, 73.6, 134.7, 1.7)
DENSE_ACROSS_CHINA = grid(18.05, 53.55, 73.55, 134.75, 0.45)


def test_an_independent_library_gives_the_same_answers_across_china() -> None:
    # prcoords 1.0.2 (PyPI): Coords(lat, lon) tuples; its *_bored inverses iterate to ~1e-8.
    assert len(ACROSS_CHINA) > 700
    for p in ACROSS_CHINA:
        q = (p.latitude, p.longitude)
        assert off_by(wgs84_to_gcj02(p), Point(*prcoords.wgs_gcj(q))) < 1e-9, p
        assert off_by(gcj02_to_bd09(p), Point(*prcoords.gcj_bd(q))) < 1e-9, p
        assert off_by(gcj02_to_wgs84(p), Point(*prcoords.gcj_wgs_bored(q))) < 1e-7, p
        assert off_by(bd09_to_gcj02(p), Point(*prcoords.bd_gcj_bored(q))) < 1e-7, p


def test_gcj02_to_wgs84_undoes_wgs84_to_gcj02_to_a_centimetre_everywhere_in_china() -> None:
    assert len(DENSE_ACROSS_CHINA) > 10_000
    worst = max(off_by(gcj02_to_wgs84(wgs84_to_gcj02(p)), p) for p in DENSE_ACROSS_CHINA)
    assert worst < 1e-7


def test_bd09_to_wgs84_undoes_wgs84_to_bd09_to_a_centimetre_everywhere_in_china() -> None:
    worst = max(off_by(to_wgs84(wgs84_to_bd09(p), Datum.BD09), p) for p in DENSE_ACROSS_CHINA)
    assert worst < 1e-7


def test_to_wgs84_applies_the_inverse_named_by_the_datum() -> None:
    wgs84, gcj02, bd09 = CITY_CENTRES["Jinan"]
    assert to_wgs84(wgs84, Datum.WGS84) == wgs84
    assert to_wgs84(gcj02, Datum.GCJ02) == gcj02_to_wgs84(gcj02)
    assert to_wgs84(bd09, Datum.BD09) == gcj02_to_wgs84(bd09_to_gcj02(bd09))


ABROAD = {
    "London": Point(51.5074, -0.1278),
    "New York": Point(40.7128, -74.0060),
    "Sydney": Point(-33.8688, 151.2093),
    "Tokyo": Point(35.6762, 139.6503),
}


@pytest.mark.parametrize("p", ABROAD.values(), ids=ABROAD)
def test_outside_china_every_conversion_is_the_identity(p: Point) -> None:
    assert out_of_china(p)
    for convert in (wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02):
        assert convert(p) == p
    for datum in Datum:
        assert to_wgs84(p, datum) == p


def test_chinese_cities_are_inside_the_box() -> None:
    assert not any(out_of_china(p) for centre in CITY_CENTRES.values() for p in centre)


def test_the_offsets_are_the_few_hundred_metres_people_see_on_the_maps() -> None:
    for wgs84, _, _ in CITY_CENTRES.values():
        assert 100 < distance_m(wgs84, wgs84_to_gcj02(wgs84)) < 1_000
        assert 500 < distance_m(wgs84, wgs84_to_bd09(wgs84)) < 1_500


def test_one_degree_of_latitude_is_111_195_metres_on_the_mean_sphere() -> None:
    assert distance_m(Point(36.0, 117.0), Point(37.0, 117.0)) == pytest.approx(111_195.08, abs=0.1)


def test_beijing_to_shanghai_is_about_1067_kilometres() -> None:
    # Tiananmen to People's Square; the usual quoted straight-line distance is ~1,067 km.
    beijing, shanghai = Point(39.9042, 116.4074), Point(31.2304, 121.4737)
    assert distance_m(beijing, shanghai) == pytest.approx(1_067_000, rel=0.005)


def test_a_degree_of_longitude_shrinks_with_the_cosine_of_latitude() -> None:
    at_60 = distance_m(Point(60.0, 100.0), Point(60.0, 100.001))
    at_equator = distance_m(Point(0.0, 100.0), Point(0.0, 100.001))
    assert at_60 == pytest.approx(at_equator * math.cos(math.radians(60)), rel=1e-6)


def test_distance_is_symmetric_and_zero_for_the_same_point() -> None:
    a, b = CITY_CENTRES["Jinan"][0], CITY_CENTRES["Guangzhou"][0]
    assert distance_m(a, b) == distance_m(b, a)
    assert distance_m(a, a) == 0.0


def test_antipodes_are_half_the_circumference_apart() -> None:
    half = distance_m(Point(0.0, 0.0), Point(0.0, 180.0))
    assert half == pytest.approx(math.pi * 6_371_008.8)
