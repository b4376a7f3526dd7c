"""Hostile material requests: every one gets a 4xx envelope, decided before any work, in bounded time."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from marshmallow import ValidationError
from material_helpers import BASE, assert_envelope, item
from sqlalchemy import func, select

from flask_medialib import get_state, schemas
from flask_medialib.errors import HTTPError
from flask_medialib.models import Media


def count_media() -> int:
    return get_state().session.execute(select(func.count()).select_from(Media)).scalar_one()


def post_raw(api, endpoint: str, data: str | bytes):
    query = {"token": api.corp.writer, "openId": "alice"}
    return api.client.post(f"{BASE}/{endpoint}", query_string=query, data=data, content_type="application/json")


# -- list: tagIds ------------------------------------------------------------------------


def test_list_with_hundreds_of_tag_ids_is_400_not_a_500(api):
    api.add([item(tagIds="7")])
    body = assert_envelope(api.list(tagIds=",".join(str(i) for i in range(1, 601))), 400)
    assert "tagIds" in body["msg"] and str(schemas.MAX_TAG_IDS) in body["msg"]
    # The most a filter may name still works, on SQLite too.
    most = ",".join(str(i) for i in range(1, schemas.MAX_TAG_IDS + 1))
    assert len(assert_envelope(api.list(tagIds=most), 200)["list"]) == 1


def test_tag_ids_are_ascii_digits(api):
    assert_envelope(api.list(tagIds="\u0661"), 400)  # ARABIC-INDIC DIGIT ONE
    body = assert_envelope(api.add([item(tagIds="1,\uff12")]), 422)  # FULLWIDTH DIGIT TWO
    assert "tagIds" in body["msg"]
    assert count_media() == 0


# -- nesting -----------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["add", "rename", "delete"])
@pytest.mark.parametrize("body", ["[" * 100_000, "[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000])
def test_deeply_nested_bodies_are_400(api, endpoint, body):
    started = time.monotonic()
    resp = assert_envelope(post_raw(api, endpoint, body), 400)
    assert time.monotonic() - started < 5
    assert "nested" in resp["msg"] and str(schemas.MAX_JSON_DEPTH) in resp["msg"]


def test_nesting_inside_strings_does_not_count(api):
    body = assert_envelope(api.add([item(content="[" * 10_000, type=4, path=None)]), 200)
    assert body["list"][0]["content"] == "[" * 10_000


@given(
    st.recursive(
        st.none() | st.integers() | st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)
    )
)
def test_json_depth_matches_the_structure(value):
    def depth(v) -> int:
        if isinstance(v, list):
            return 1 + max((depth(x) for x in v), default=0)
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        return 0

    for ensure_ascii in (True, False):
        data = json.dumps(value, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
        items = len(value) if isinstance(value, list) else 0
        assert schemas.json_outline(data) == (depth(value), items)
        spaced = json.dumps(value, ensure_ascii=ensure_ascii, indent=1).encode("utf-8", "surrogatepass")
        assert schemas.json_outline(b" \n" + spaced) == (depth(value), items)


# -- text the database cannot store ------------------------------------------------------


SURROGATE = "\\ud800"  # as JSON text: a lone high surrogate
NUL = "\\u0000"


@pytest.mark.parametrize(
    ("field", "escape"),
    [
        ("name", SURROGATE),
        ("content", SURROGATE),
        ("keywords", "\\udfff"),
        ("content", NUL),
        ("keywords", NUL),
        ("path", NUL),
        ("tmbPath", NUL),
        ("name", NUL),
    ],
)
def test_lone_surrogates_and_nul_in_add_are_400(api, field, escape):
    fields = {"name": "n", "bizType": 2, "type": 4, "content": "c", "keywords": "k", "path": "https://h/a.jpg"}
    fields["tmbPath"] = "https://h/t.jpg"
    text = json.dumps([{**fields, field: "x"}]).replace('"x"', f'"a{escape}b"')
    # An item of a batch: a 422 that names it, like every other bad item.
    body = assert_envelope(post_raw(api, "add", text), 422)
    assert f"item 0: {field}: " in body["msg"] and body["map"]["badIndexes"] == [0]
    assert ("surrogate" if escape != NUL else "NUL") in body["msg"]
    assert count_media() == 0


def test_a_raw_surrogate_in_utf8_bytes_is_400(api):
    # CESU-style bytes of U+D800: json.loads(bytes) decodes with surrogatepass.
    data = b'[{"name": "a\xed\xa0\x80", "bizType": 2, "type": 4, "content": "c"}]'
    body = assert_envelope(post_raw(api, "add", data), 422)
    assert "item 0: name: holds a lone surrogate" in body["msg"]
    assert count_media() == 0


def test_surrogate_in_rename_and_in_a_key_is_400(api):
    (a,) = [m["id"] for m in assert_envelope(api.add([item(name="before")]), 200)["list"]]
    assert_envelope(post_raw(api, "rename", f'[{{"materialId": {a}, "name": "x{SURROGATE}"}}]'), 422)
    assert_envelope(post_raw(api, "add", f'[{{"n{SURROGATE}": 1}}]'), 422)
    body = assert_envelope(post_raw(api, "delete", f'{{"materialIds": "1", "x": "{NUL}"}}'), 400)
    assert body["msg"].startswith("x: holds a NUL")
    assert assert_envelope(api.call("GET", "listByIds", materialIds=str(a)), 200)["list"][0]["name"] == "before"


def test_keys_are_bounded(api):
    body = assert_envelope(api.add([{"k" * 100_000: 1}]), 422)
    assert len(body["msg"]) < 1000


# -- ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ids", ["1\u00b3", "\u0661", "\uff11", "1_0", "+1", "-1", "0", "1e3", "99999999999999999999"])
def test_material_ids_are_strict_ascii_even_without_a_token(api, ids):
    # Parameters are checked before the token: a 400 for anyone, never a 500.
    body = assert_envelope(api.call("GET", "listByIds", token=None, materialIds=ids), 400)
    assert "materialIds" in body["msg"]
    assert_envelope(api.call("POST", "delete", json={"materialIds": ids}), 400)
    assert_envelope(api.call("POST", "delete", json={"materialIds": [ids]}), 400)


@pytest.mark.parametrize("value", ["\uff11", "1\u00b3", " 1", "1.0", True])
def test_rename_material_id_is_strict(api, value):
    (a,) = [m["id"] for m in assert_envelope(api.add([item(name="before")]), 200)["list"]]
    assert a == 1
    body = assert_envelope(api.call("POST", "rename", json=[{"materialId": value, "name": "after"}]), 422)
    assert "materialId" in body["msg"]
    assert assert_envelope(api.call("GET", "listByIds", materialIds="1"), 200)["list"][0]["name"] == "before"


@pytest.mark.parametrize("param", ["pageNo", "pageSize", "type", "bizType", "startTime", "endTime"])
def test_integer_parameters_are_ascii(api, param):
    assert_envelope(api.list(**{param: "\uff11"}), 400)
    assert_envelope(api.list(**{param: "\u0662"}), 400)


def test_ids_with_spaces_and_empty_parts_still_work(api):
    a, b = [m["id"] for m in assert_envelope(api.add([item(), item()]), 200)["list"]]
    got = assert_envelope(api.call("GET", "listByIds", materialIds=f" {b} ,, {a},{b}"), 200)["list"]
    assert [m["id"] for m in got] == [b, a]


@pytest.mark.parametrize("endpoint", ["delete", "listByIds"])
def test_eighty_thousand_ids_are_413_at_once(api, endpoint):
    (a,) = [m["id"] for m in assert_envelope(api.add([item()]), 200)["list"]]
    ids = ",".join(str(i) for i in range(1, 80_001))
    started = time.monotonic()
    if endpoint == "delete":
        resp = api.call("POST", "delete", json={"materialIds": ids})
    else:
        resp = api.call("GET", "listByIds", materialIds=ids)
    body = assert_envelope(resp, 413)
    assert time.monotonic() - started < 5
    assert body["map"]["error"] == "TooManyItems" and "MEDIALIB_MATERIAL_MAX_ITEMS" in body["msg"]
    assert count_media() == 1 and a == 1


def test_millions_of_tiny_items_are_413_before_parsing(api, monkeypatch):
    # 64 MiB of ``{}`` would be ~22 million dicts (GBs of memory) if parsed before counting.
    body = b"[" + b",".join([b"{}"] * 4_000_000) + b"]"

    loads = json.loads

    def never_the_body(text, *args, **kwargs):
        assert len(text) < len(body), "the body was parsed"
        return loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", never_the_body)
    started = time.monotonic()
    resp = post_raw(api, "add", body)
    elapsed = time.monotonic() - started
    found = assert_envelope(resp, 413)
    assert found["map"]["error"] == "TooManyItems" and found["msg"].startswith("4000000 items")
    assert elapsed < 5 and count_media() == 0


def test_items_are_counted_at_the_top_level_only(api, app):
    app.config["MEDIALIB_MATERIAL_MAX_ITEMS"] = 2
    commas = item(content="a,b,[c,{d}]", type=4, path=None)
    assert len(assert_envelope(api.add([commas, commas]), 200)["list"]) == 2
    assert_envelope(api.add([commas, commas, commas]), 413)


def test_the_id_limit_counts_what_was_sent(api, app):
    # Checked before de-duplication: a request may not make the server work through a long list.
    app.config["MEDIALIB_MATERIAL_MAX_ITEMS"] = 3
    assert_envelope(api.call("POST", "delete", json={"materialIds": "1,1,1,1"}), 413)
    assert_envelope(api.call("POST", "delete", json={"materialIds": [1, 1, 1, 1]}), 413)
    assert assert_envelope(api.call("POST", "delete", json={"materialIds": "1,1,1"}), 200)["list"] == []


@given(st.lists(st.integers(1, 2**63 - 1), min_size=1, max_size=50), st.booleans())
def test_id_list_keeps_first_occurrences_in_order(ids, as_text):
    field = schemas.IdList(limit=1000)
    value = ",".join(map(str, ids)) if as_text else ids
    assert field.deserialize(value) == list(dict.fromkeys(ids))


@given(st.text(max_size=30))
def test_id_list_accepts_only_ascii_digits(text):
    field = schemas.IdList(limit=1000)
    try:
        ids = field.deserialize(text)
    except ValidationError:
        return
    except HTTPError:
        pytest.fail("no limit is reached by 30 characters")
    for part in text.split(","):
        assert part.strip() == "" or part.strip().isascii()
    assert all(1 <= i < 2**63 for i in ids)
