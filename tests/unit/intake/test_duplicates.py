import uuid

from services.intake.domain.duplicates import Place, likely_duplicates


def place(case: str, **fields: object) -> Place:
    defaults: dict[str, object] = {
        "category": "roof-leak",
        "building": None,
        "grid": None,
        "latitude": None,
        "longitude": None,
    }
    return Place(uuid.uuid4(), case, **(defaults | fields))  # type: ignore[arg-type]


NEW = place(
    "new",
    building="370124001001-G01-B02",
    grid="370124001001-G01",
    latitude=36.29440,
    longitude=116.44065,
)


def test_the_same_building_and_category_is_the_strongest_match():
    same_building = place("A", building=NEW.building, grid=NEW.grid)
    same_grid = place("B", grid=NEW.grid)
    found = likely_duplicates(NEW, [same_grid, same_building], radius_m=50)
    assert [(c.case_number, c.reason) for c in found] == [
        ("A", "same_building"),
        ("B", "same_grid"),
    ]


def test_coordinates_within_the_radius_match_across_buildings():
    about_30_m_north = place("C", latitude=36.29467, longitude=116.44065)
    about_300_m_away = place("D", latitude=36.29710, longitude=116.44065)
    found = likely_duplicates(NEW, [about_30_m_north, about_300_m_away], radius_m=50)
    assert [c.case_number for c in found] == ["C"]
    assert found[0].reason == "nearby" and 25 < (found[0].distance_m or 0) < 35


def test_another_category_or_a_bare_community_is_never_a_duplicate():
    other_category = place("E", category="parking", building=NEW.building)
    coarse_new = place("F")
    assert likely_duplicates(NEW, [other_category], radius_m=50) == []
    assert likely_duplicates(coarse_new, [place("G")], radius_m=50) == []


def test_a_complaint_is_not_its_own_duplicate_and_the_list_is_bounded():
    many = [place(f"H{i}", building=NEW.building) for i in range(9)]
    assert likely_duplicates(NEW, [NEW, *many], radius_m=50, limit=5) == likely_duplicates(
        NEW, many, radius_m=50, limit=5
    )
    assert len(likely_duplicates(NEW, many, radius_m=50)) == 5
