"""The material endpoints: parameters, envelope, visibility, batches, errors."""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from material_helpers import assert_envelope, item
from PIL import Image
from sqlalchemy import func, select

from flask_medialib import auth, get_state
from flask_medialib.models import MaterialEvent, Media
from flask_medialib.services import library as lib
from flask_medialib.services import materials


def count_media() -> int:
    return get_state().session.execute(select(func.count()).select_from(Media)).scalar_one()


def ids_of(resp) -> list[int]:
    return [m["id"] for m in resp.get_json()["list"]]


# -- add ---------------------------------------------------------------------


def test_add_answers_the_created_rows_in_the_api_shape(api, clock):
    resp = api.add(
        [
            item(
                name="a",
                path="https://cdn.example.com/a.jpg",
                tmbPath="https://cdn.example.com/a_t.jpg",
                width=640,
                height=480,
                size=12345,
                createTime="2024-05-01 13:45:00",
                tagIds="1,2",
                uploadType=2,
                keywords="sea",
            ),
            item(name="note", type=4, bizType=3, content="hello", path=None),
            item(name="clip", type=3, path="https://cdn.example.com/c.mp4", durationTime=12.5),
        ]
    )
    body = assert_envelope(resp, 200)
    first, note, clip = body["list"]
    assert set(first) == {
        "id",
        "name",
        "bizType",
        "type",
        "corpId",
        "uploadType",
        "path",
        "tmbPath",
        "height",
        "width",
        "size",
        "durationTime",
        "keywords",
        "status",
        "createUser",
        "createTime",
        "updateUser",
        "updateTime",
        "content",
        "tagId",
        "transcodePath",
        "coverPath",
    }
    assert first["corpId"] == "acme" and first["createUser"] == first["updateUser"] == "alice"
    assert first["createTime"] == "2024-05-01 13:45:00" and first["tagId"] == "1,2"
    assert first["updateTime"] == clock.now.strftime("%Y-%m-%d %H:%M:%S")
    assert (first["width"], first["height"], first["size"], first["uploadType"]) == (640, 480, 12345, 2)
    assert first["coverPath"] == "https://cdn.example.com/a_t.jpg"
    assert note["content"] == "hello" and note["type"] == 4 and note["bizType"] == 3
    assert clip["durationTime"] == 12.5
    row = get_state().session.get(Media, first["id"])
    assert row.url == "https://cdn.example.com/a.jpg" and row.storage_key is None and row.file_name is None
    assert row.uploaded_at == row.created_at == dt.datetime(2024, 5, 1, 13, 45)


def test_create_time_is_read_and_rendered_in_the_configured_zone(app, api):
    app.config["MEDIALIB_TIMEZONE"] = "Asia/Shanghai"
    resp = api.add([item(createTime="2024-05-01 08:00:00")])
    created = assert_envelope(resp, 200)["list"][0]
    assert created["createTime"] == "2024-05-01 08:00:00"
    assert get_state().session.get(Media, created["id"]).created_at == dt.datetime(2024, 5, 1, 0, 0)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"bizType": 1}, "bizType"),
        ({"type": 5}, "type"),
        ({"type": "video"}, "type"),
        ({"uploadType": 4}, "uploadType"),
        ({"width": -1}, "width"),
        ({"size": "big"}, "size"),
        ({"durationTime": -2}, "durationTime"),
        ({"createTime": "2024-05-01T13:45:00"}, "createTime"),
        ({"createTime": "2024-02-30 10:00:00"}, "createTime"),
        ({"tagIds": "1,,2"}, "tagIds"),
        ({"tagIds": "a"}, "tagIds"),
        ({"path": None}, "path"),
        ({"path": "ftp://host/a.jpg"}, "path"),
        ({"path": "../etc/passwd"}, "path"),
        ({"path": "/etc/passwd"}, "path"),
        ({"path": "a/../../b.jpg"}, "path"),
        ({"path": "http:///nohost"}, "path"),
        ({"path": "ab/cd/missing.jpg"}, "path"),
        ({"tmbPath": "javascript:alert(1)"}, "tmbPath"),
        ({"type": 4, "path": None}, "content"),
        ({"nmae": "typo"}, "nmae"),
    ],
)
def test_one_bad_item_among_many_stores_nothing_and_names_index_and_field(api, bad, field):
    items = [item(name=f"m{i}") for i in range(1000)]
    items[637] = item(**{"name": "m637", **bad})
    resp = api.add(items)
    body = assert_envelope(resp, 422)
    assert "item 637" in body["msg"] and field in body["msg"], body["msg"]
    assert body["map"]["badIndexes"] == [637]
    assert count_media() == 0
    assert get_state().session.execute(select(func.count()).select_from(MaterialEvent)).scalar_one() == 0


def test_missing_required_fields_are_named(api):
    body = assert_envelope(api.add([{"name": "x"}]), 422)
    assert "bizType" in body["msg"] and "type" in body["msg"]
    body = assert_envelope(api.add([item(), 7]), 422)
    assert "item 1" in body["msg"]


def test_many_bad_items_are_summarised(api):
    body = assert_envelope(api.add([item(type=9) for _ in range(8)]), 422)
    assert "and 3 more bad items" in body["msg"]


def test_a_full_batch_is_accepted_and_one_more_is_413(api, app):
    assert len(assert_envelope(api.add([item(name=f"m{i}") for i in range(1000)]), 200)["list"]) == 1000
    body = assert_envelope(api.add([item() for _ in range(1001)]), 413)
    assert "MEDIALIB_MATERIAL_MAX_ITEMS" in body["msg"] and body["map"]["error"] == "TooManyItems"
    app.config["MEDIALIB_MATERIAL_MAX_ITEMS"] = 2
    assert_envelope(api.add([item(), item(), item()]), 413)
    assert count_media() == 1000


@pytest.mark.parametrize(
    ("body", "status"),
    [({"name": "x"}, 400), ([], 400), ("text", 400), (None, 400)],
)
def test_add_body_shape_errors(api, body, status):
    resp = (
        api.call("POST", "add", json=body)
        if body is not None
        else api.client.post(
            "/api/v1/biz/material/third/add", query_string={"token": api.corp.writer, "openId": "a"}, data="{not json"
        )
    )
    assert_envelope(resp, status)


# -- tokens and users -----------------------------------------------------------


def test_token_errors(api, corp, clock):
    assert_envelope(api.call("GET", "list", token=None), 401)
    assert_envelope(api.call("GET", "list", token="nonsense"), 403)
    body = assert_envelope(api.add([item()], token="reader"), 403)
    assert "material_write" in body["msg"]
    assert_envelope(api.call("GET", "list", open_id=None), 400)
    assert_envelope(api.call("GET", "list", open_id=""), 400)
    # A space-bound token cannot name another enterprise.
    assert_envelope(api.call("GET", "list", corpId="other"), 403)
    assert_envelope(api.call("GET", "list", corpId="acme"), 200)
    # A library-wide admin token must name the enterprise, which must exist.
    assert_envelope(api.call("GET", "list", token="admin"), 400)
    assert_envelope(api.call("GET", "list", token="admin", corpId="nope"), 404)
    assert_envelope(api.add([item()], token="admin", corpId="other"), 200)
    # A library-wide token without admin is refused.
    library = lib.get_library("mat")
    plain, _ = auth.issue_token(library, grants=frozenset({"material_write"}))
    get_state().session.commit()
    assert_envelope(api.call("GET", "list", token=plain, corpId="acme"), 403)
    clock.advance(10 * 86_400)
    assert_envelope(api.call("GET", "list"), 403)


def test_token_of_a_user_acts_only_as_that_open_id(api):
    library = lib.get_library("mat")
    space = lib.get_space(library, "acme")
    bob, _ = auth.issue_token(library, space=space, user_id="bob", grants=frozenset({"material_write"}))
    get_state().session.commit()
    assert_envelope(api.add([item()], token=bob, open_id="bob"), 200)
    assert_envelope(api.add([item()], token=bob, open_id="alice"), 403)


def test_employee_materials_are_visible_to_their_owner_only(api):
    mine = assert_envelope(api.add([item(name="mine", bizType=3)]), 200)["list"][0]["id"]
    shared = assert_envelope(api.add([item(name="shared", bizType=2)]), 200)["list"][0]["id"]
    assert set(ids_of(api.list())) == {mine, shared}
    assert ids_of(api.list(open_id="bob")) == [shared]
    assert ids_of(api.call("GET", "listByIds", open_id="bob", materialIds=f"{mine},{shared}")) == [shared]
    # bob can neither rename nor delete alice's employee material.
    body = assert_envelope(api.call("POST", "rename", open_id="bob", json=[{"materialId": mine, "name": "x"}]), 404)
    assert "item 0" in body["msg"]
    assert assert_envelope(api.call("POST", "delete", open_id="bob", json={"materialIds": str(mine)}), 200)["obj"] == {
        "count": 0
    }
    assert get_state().session.get(Media, mine) is not None


def test_other_enterprises_are_invisible(api, corp):
    theirs = assert_envelope(api.add([item()], token="admin", corpId="other"), 200)["list"][0]["id"]
    assert ids_of(api.call("GET", "listByIds", materialIds=str(theirs))) == []
    assert_envelope(api.call("POST", "rename", json=[{"materialId": theirs, "name": "x"}]), 404)
    assert assert_envelope(api.call("POST", "delete", json={"materialIds": str(theirs)}), 200)["list"] == []


# -- list ----------------------------------------------------------------------------


def _seed(api):
    items = [
        item(name="Red 50%_off", type=1, tagIds="1,2", createTime="2024-01-01 00:00:00"),
        item(name="red car", type=3, tagIds="3", createTime="2024-01-02 00:00:00", path="https://h/c.mp4"),
        item(name="blue", type=2, tagIds="12", createTime="2024-01-03 00:00:00", path="https://h/b.mp3"),
        item(name="50 percent", type=4, content="t", path=None, bizType=3, createTime="2024-01-03 00:00:00"),
    ]
    return ids_of(assert_envelope_ok(api.add(items)))


def assert_envelope_ok(resp):
    assert_envelope(resp, 200)
    return resp


def test_list_orders_newest_first_then_by_id(api):
    red, car, blue, text = _seed(api)
    body = assert_envelope(api.list(), 200)
    assert ids_of_body(body) == [text, blue, car, red]
    assert body["map"] == {"pageNo": 1, "count": 4, "pageSize": 10, "end": True}


def ids_of_body(body) -> list[int]:
    return [m["id"] for m in body["list"]]


def test_list_paging(api):
    ids = _seed(api)
    first = assert_envelope(api.list(pageSize=3), 200)
    second = assert_envelope(api.list(pageSize=3, pageNo=2), 200)
    assert first["map"] == {"pageNo": 1, "count": 4, "pageSize": 3, "end": False}
    assert second["map"]["end"] is True and len(second["list"]) == 1
    assert set(ids_of_body(first) + ids_of_body(second)) == set(ids)
    assert assert_envelope(api.list(pageNo=9), 200)["list"] == []


def test_list_filters(api):
    red, car, blue, text = _seed(api)
    assert ids_of(api.list(name="red")) == [car, red]  # case-insensitive substring
    assert ids_of(api.list(name="50%")) == [red]  # % is a literal
    assert ids_of(api.list(name="%")) == [red]
    assert ids_of(api.list(name="_")) == [red]  # _ is a literal
    assert ids_of(api.list(type=3)) == [car]
    assert ids_of(api.list(tagIds="2,3")) == [car, red]
    assert ids_of(api.list(tagIds="1")) == [red]  # 1 does not match tag 12
    assert ids_of(api.list(bizType=3)) == [text]
    assert ids_of(api.list(bizType=2)) == [blue, car, red]
    jan2 = int(dt.datetime(2024, 1, 2, tzinfo=dt.UTC).timestamp() * 1000)
    assert ids_of(api.list(startTime=jan2)) == [text, blue, car]
    assert ids_of(api.list(endTime=jan2)) == [car, red]
    assert ids_of(api.list(startTime=jan2, endTime=jan2)) == [car]


@pytest.mark.parametrize(
    "params",
    [
        {"pageNo": 0},
        {"pageNo": "x"},
        {"pageSize": 0},
        {"pageSize": 101},
        {"type": 7},
        {"bizType": 1},
        {"tagIds": "1;2"},
        {"startTime": -1},
        {"startTime": "yesterday"},
        {"startTime": 5, "endTime": 4},
        {"name": "x" * 256},
    ],
)
def test_list_parameter_errors_name_the_parameter(api, params):
    body = assert_envelope(api.list(**params), 400)
    assert any(name in body["msg"] for name in params), body["msg"]


# -- listByIds ------------------------------------------------------------------------


def test_list_by_ids_keeps_the_order_asked(api):
    a, _b, c = ids_of(api.add([item(name="a"), item(name="b"), item(name="c")]))
    body = assert_envelope(api.call("GET", "listByIds", materialIds=f"{c},999,{a},{c}"), 200)
    assert ids_of_body(body) == [c, a]


@pytest.mark.parametrize("value", ["", "1,x", "-1", "0", ",,"])
def test_list_by_ids_errors(api, value):
    body = assert_envelope(api.call("GET", "listByIds", materialIds=value), 400)
    assert "materialIds" in body["msg"]
    assert_envelope(api.call("GET", "listByIds"), 400)


# -- rename ------------------------------------------------------------------------------


def test_rename_all_or_nothing(api, clock):
    a, b = ids_of(api.add([item(name="a"), item(name="b")]))
    clock.advance(60)
    body = assert_envelope(
        api.call(
            "POST", "rename", open_id="bob", json=[{"materialId": a, "name": "A"}, {"materialId": b, "name": "B"}]
        ),
        200,
    )
    assert [(m["id"], m["name"], m["updateUser"], m["createUser"]) for m in body["list"]] == [
        (a, "A", "bob", "alice"),
        (b, "B", "bob", "alice"),
    ]
    assert body["list"][0]["updateTime"] == clock.now.strftime("%Y-%m-%d %H:%M:%S")
    # One unknown id: nothing renamed.
    body = assert_envelope(
        api.call("POST", "rename", json=[{"materialId": a, "name": "AA"}, {"materialId": 424242, "name": "x"}]), 404
    )
    assert "item 1" in body["msg"] and "424242" in body["msg"]
    assert get_state().session.get(Media, a).name == "A"


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ([{"materialId": 1}], 422, "name"),
        ([{"materialId": "one", "name": "x"}], 422, "materialId"),
        ([{"materialId": 1, "name": ""}], 422, "name"),
        ([{"materialId": 1, "name": "x", "extra": 1}], 422, "extra"),
        ([{"materialId": 1, "name": "x"}, {"materialId": 1, "name": "y"}], 422, "item 1"),
        ({"materialId": 1, "name": "x"}, 400, "array"),
        ([], 400, "empty"),
    ],
)
def test_rename_errors(api, body, status, text):
    api.add([item()])
    resp = assert_envelope(api.call("POST", "rename", json=body), status)
    assert text in resp["msg"]


def test_rename_needs_material_write(api):
    (a,) = ids_of(api.add([item()]))
    assert_envelope(api.call("POST", "rename", token="reader", json=[{"materialId": a, "name": "x"}]), 403)


def test_rename_limit(api, app):
    app.config["MEDIALIB_MATERIAL_MAX_ITEMS"] = 1
    assert_envelope(api.call("POST", "rename", json=[{"materialId": 1, "name": "x"}] * 2), 413)


# -- delete ---------------------------------------------------------------------------------


def test_delete(api):
    a, b, c = ids_of(api.add([item(), item(), item()]))
    body = assert_envelope(api.call("POST", "delete", json={"materialIds": f"{a},{c},999"}), 200)
    assert body["list"] == [a, c] and body["obj"] == {"count": 2}
    assert ids_of(api.list()) == [b]
    # Deleting again is harmless (a replica's retry).
    assert assert_envelope(api.call("POST", "delete", json={"materialIds": f"{a}"}), 200)["list"] == []
    # A JSON list of ids is accepted too.
    assert assert_envelope(api.call("POST", "delete", json={"materialIds": [b]}), 200)["list"] == [b]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ([1, 2], 400),
        ({}, 400),
        ({"materialIds": ""}, 400),
        ({"materialIds": "1,a"}, 400),
        ({"materialIds": 5}, 400),
        ({"materialIds": "1", "x": 1}, 400),
    ],
)
def test_delete_errors(api, body, status):
    assert_envelope(api.call("POST", "delete", json=body), status)


def test_delete_needs_material_write_and_respects_the_limit(api, app):
    (a,) = ids_of(api.add([item()]))
    assert_envelope(api.call("POST", "delete", token="reader", json={"materialIds": str(a)}), 403)
    app.config["MEDIALIB_MATERIAL_MAX_ITEMS"] = 1
    assert_envelope(api.call("POST", "delete", json={"materialIds": "1,2"}), 413)


def _upload(client, corp, name: str) -> int:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, "PNG")
    resp = client.put(f"/api/v1/file/mat/acme/{name}", query_string={"access_token": corp.admin}, data=buf.getvalue())
    assert resp.status_code == 201, resp.get_json()
    return int(resp.get_json()["mediaId"])


@pytest.mark.both_storages
def test_deleting_an_uploaded_file_removes_its_bytes_only_when_unused(api, client, corp):
    storage = get_state().storage
    shared_id = _upload(client, corp, "shared.png")
    shared_key = get_state().session.get(Media, shared_id).storage_key
    (material,) = ids_of(api.add([item(path=f"media:{shared_id}")]))
    alone_id = _upload(client, corp, "alone.png")
    alone_key = get_state().session.get(Media, alone_id).storage_key
    body = assert_envelope(api.call("POST", "delete", json={"materialIds": f"{shared_id},{alone_id}"}), 200)
    assert body["list"] == [shared_id, alone_id]
    assert storage.exists(shared_key)  # a material still uses these bytes
    assert not storage.exists(alone_key)  # an uploaded file nobody else uses
    assert_envelope(api.call("POST", "delete", json={"materialIds": str(material)}), 200)
    assert not storage.exists(shared_key)  # the last reference in the enterprise is gone


def test_optional_fields_default_and_open_id_is_bounded(api):
    created = assert_envelope(api.add([{"name": "n", "bizType": 2, "type": 1, "path": "https://h/a.jpg"}]), 200)
    first = created["list"][0]
    assert (first["uploadType"], first["status"], first["tagId"], first["keywords"]) == (0, 1, None, None)
    assert first["createTime"] == first["updateTime"]
    assert_envelope(api.add([item()], open_id="x" * 256), 400)


@given(
    st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(9990, 1, 1)).map(
        lambda d: d.replace(microsecond=0)
    ),
    st.sampled_from(["UTC", "Asia/Shanghai", "America/Sao_Paulo", "Asia/Kolkata"]),
)
def test_create_time_round_trips_through_naive_utc(local, zone_name):
    zone = zoneinfo.ZoneInfo(zone_name)
    text = local.strftime(materials.TIME_FORMAT)
    stored = materials.parse_time(text, zone)
    assert stored.tzinfo is None
    # Times a DST change skips or repeats map to a neighbour; every other time comes back unchanged.
    aware = local.replace(tzinfo=zone)
    if aware.utcoffset() == aware.replace(fold=1).utcoffset() and (
        aware.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) == local
    ):
        assert materials.format_time(stored, zone) == text
