"""The fast paths of the material API agree with the slow ones they stand in for."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError
from material_helpers import item

from flask_medialib.schemas import MaterialItemIn
from flask_medialib.services import materials

# Values near and across every rule of MaterialItemIn, plus wrong JSON types.
ANY_JSON = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=3))
FIELDS: dict[str, Any] = {
    "name": st.one_of(st.text(max_size=4), st.just(" "), st.just("a\x01"), st.just("x" * 256), ANY_JSON),
    "bizType": st.one_of(st.sampled_from([1, 2, 3, 4, "2", 2.0, True]), ANY_JSON),
    "type": st.one_of(st.sampled_from([0, 1, 2, 3, 4, 5, "1", 1.0]), ANY_JSON),
    "uploadType": st.one_of(st.integers(-1, 4), ANY_JSON),
    "path": st.one_of(
        st.sampled_from(
            [
                "https://cdn.example.com/a.jpg",
                "http://x/y.png",
                "https:///nohost",
                "http://a b",
                "media/a.jpg",
                "../etc/passwd",
                "a//b",
                "",
                "https://h/" + "x" * 2048,
            ]
        ),
        ANY_JSON,
    ),
    "tmbPath": st.one_of(st.sampled_from(["https://cdn.example.com/t.jpg", "bad path", ""]), ANY_JSON),
    "width": st.one_of(st.sampled_from([0, 800, 1_000_000, 1_000_001, -1, 8.5]), ANY_JSON),
    "height": st.one_of(st.sampled_from([0, 600, 1_000_001]), ANY_JSON),
    "size": st.one_of(st.sampled_from([0, 2**62, 2**62 + 1, -1]), ANY_JSON),
    "durationTime": st.one_of(
        st.sampled_from([0, 1.5, 10**9, 10**9 + 1, -0.5, float("inf"), float("nan"), "1.5"]), ANY_JSON
    ),
    "createTime": st.one_of(
        st.sampled_from(["2025-03-01 12:00:00", "2025-3-1 12:00:00", "2025-02-30 10:00:00", ""]), ANY_JSON
    ),
    "content": st.one_of(st.sampled_from(["hello", "", "x" * 65_536]), ANY_JSON),
    "tagIds": st.one_of(st.sampled_from(["1,2,3", "7", "1,,2", "a", "1" * 19, ""]), ANY_JSON),
    "keywords": st.one_of(st.sampled_from(["a b", "k" * 1001]), ANY_JSON),
    "extra": st.just(1),
}


@st.composite
def raw_items(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 20)) == 0:
        return draw(ANY_JSON)  # not even an object
    base = item(name=f"pic {draw(st.integers(0, 10**6))}")
    chosen = draw(st.lists(st.sampled_from(sorted(FIELDS)), unique=True, max_size=4))
    for key in chosen:
        if key != "extra" and draw(st.booleans()):
            base.pop(key, None)  # absent
        else:
            base[key] = draw(FIELDS[key])
    return base


@settings(max_examples=400)
@given(st.lists(raw_items(), min_size=1, max_size=3))
def test_quick_load_equals_marshmallow_or_defers(raw):
    quick = materials.quick_load(raw)
    try:
        slow = MaterialItemIn().load(raw, many=True)
    except ValidationError:
        slow = None
    if quick is not None:
        # Whatever the fast path accepts, marshmallow accepts too, and loads it the same.
        assert slow == quick
        assert [type(i.get("durationTime")) for i in slow] == [type(i.get("durationTime")) for i in quick]


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=5))
def test_plain_items_take_the_fast_path(seeds):
    raw = [
        item(
            name=f"pic {seed}", width=seed, tagIds=f"{seed},7", durationTime=seed / 2, createTime="2025-03-01 09:00:00"
        )
        for seed in seeds
    ]
    assert materials.quick_load(raw) == MaterialItemIn().load(raw, many=True)


def _count(api, **filters: Any) -> int:
    resp = api.list(**filters)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["map"]["count"]


def test_cached_counts_follow_every_write(api):
    from sqlalchemy import select

    from flask_medialib import get_state
    from flask_medialib.models import Media
    from flask_medialib.services import library as lib

    assert api.add([item(name="beach"), item(name="city", bizType=3)]).status_code == 200
    assert (_count(api), _count(api, name="beach"), _count(api, open_id="bob")) == (2, 1, 1)
    assert _count(api) == 2  # served from the cache now

    ids = [m["id"] for m in api.add([item(name="beach two")]).get_json()["list"]]
    assert (_count(api), _count(api, name="beach")) == (3, 2)

    renamed = api.call("POST", "rename", json=[{"materialId": ids[0], "name": "city two"}])
    assert renamed.status_code == 200
    assert (_count(api, name="beach"), _count(api, name="city")) == (1, 2)

    assert api.call("POST", "delete", json={"materialIds": str(ids[0])}).status_code == 200
    assert (_count(api), _count(api, name="city")) == (2, 1)

    # Writes outside the material API (the library's own delete) count too.
    beach = get_state().session.execute(select(Media).where(Media.name == "beach")).scalar_one()
    lib.delete_media([beach])
    assert (_count(api), _count(api, name="beach")) == (1, 0)
