"""SMH directories (contract section 3) in media libraries: albums addressed as one encoded segment,
create with a conflict strategy, list by marker and by page, entries with SMH's fields, HEAD,
rename/move with ``{from}``, delete, and SMH's 400s for nested paths."""

from __future__ import annotations

import pytest
from foundation_helpers import jpeg_bytes, png_bytes
from smh_helpers import API, crc64_reference, dir_url, file_url, qs


def upload(client, token: str, path: str, data: bytes, space: str = "-", **headers: str):
    answer = client.put(file_url("lib1", space, path, access_token=token), data=data, headers=headers)
    assert answer.status_code == 201, answer.json
    return answer


def test_create_with_ask_and_rename(client, make_lib) -> None:
    made = make_lib(album_based=True)
    first = client.put(dir_url("lib1", "-", "Trip", access_token=made.admin))
    assert first.status_code == 201 and first.json["path"] == ["Trip"] and first.json["creationTime"]
    again = client.put(dir_url("lib1", "-", "Trip", access_token=made.admin, conflict_resolution_strategy="ask"))
    assert (again.status_code, again.json["code"]) == (409, "SameNameDirectoryOrFileExists")
    renamed = client.put(dir_url("lib1", "-", "Trip", access_token=made.admin, conflict_resolution_strategy="rename"))
    assert (renamed.status_code, renamed.json["path"]) == (201, ["Trip(1)"])
    bad = client.put(dir_url("lib1", "-", "X", access_token=made.admin, conflict_resolution_strategy="overwrite"))
    assert (bad.status_code, bad.json["code"]) == (400, "InvalidConflictResolutionStrategy")
    # The optional JSON body of createDirectory is accepted.
    body = {"metaData": {"x-smh-meta-a": "1"}, "labels": ["x"], "localCreationTime": "2024-01-01T00:00:00Z"}
    assert client.put(dir_url("lib1", "-", "WithBody", access_token=made.admin), json=body).status_code == 201


def test_nested_paths_are_smh_400s(client, make_lib) -> None:
    albums = make_lib(album_based=True, albums=("a",))
    flat = make_lib("flat")
    cases = [
        ("put", dir_url("lib1", "-", "a/b", access_token=albums.admin), "DirectoryLevelExceed"),
        ("get", dir_url("lib1", "-", "a/b", "by-marker=1", access_token=albums.admin), "DirectoryLevelExceed"),
        ("delete", dir_url("lib1", "-", "a/b", access_token=albums.admin), "DirectoryLevelExceed"),
        ("put", file_url("lib1", "-", "a/b/c.png", access_token=albums.admin), "DirectoryLevelExceed"),
        ("put", dir_url("flat", "-", "a", access_token=flat.admin), "DirectoryNotAllowed"),
        ("get", dir_url("flat", "-", "a", access_token=flat.admin), "DirectoryNotAllowed"),
        ("put", file_url("flat", "-", "a/c.png", access_token=flat.admin), "DirectoryNotAllowed"),
    ]
    for method, url, code in cases:
        answer = getattr(client, method)(url, data=png_bytes() if "/file/" in url else None)
        assert (answer.status_code, answer.json["code"]) == (400, code), url
    for method in ("put", "delete"):
        root = getattr(client, method)(dir_url("lib1", "-", "", access_token=albums.admin))
        assert (root.status_code, root.json["code"]) == (400, "RootDirectoryNotAllowed")


@pytest.mark.parametrize("flag", ["by-marker=1", "by-marker"])
def test_list_root_by_marker_until_next_marker_is_absent(client, make_lib, flag: str) -> None:
    made = make_lib(album_based=True, albums=tuple(f"album{i}" for i in range(5)))
    names, marker, pages = [], None, 0
    while True:
        answer = client.get(dir_url("lib1", "-", "", flag, limit=2, marker=marker, access_token=made.admin))
        assert answer.status_code == 200, answer.json
        assert answer.json["path"] == []
        pages += 1
        names += [e["name"] for e in answer.json["contents"]]
        if not answer.json.get("nextMarker"):
            assert "nextMarker" not in answer.json
            break
        marker = answer.json["nextMarker"]
    assert (names, pages) == ([f"album{i}" for i in range(5)], 3)
    assert all(e["type"] == "dir" for e in answer.json["contents"])


def test_list_an_album_by_page(client, make_lib, clock) -> None:
    made = make_lib(album_based=True, albums=("a",))
    for i in range(5):
        upload(client, made.admin, f"a/{i}.png", png_bytes(4 + i, 4))
        clock.advance(1)
    page2 = client.get(dir_url("lib1", "-", "a", "by-page=1", page=2, page_size=2, access_token=made.admin))
    assert page2.status_code == 200
    assert page2.json["path"] == ["a"]
    assert (page2.json["totalNum"], page2.json["fileCount"], page2.json["subDirCount"]) == (5, 5, 0)
    assert [e["name"] for e in page2.json["contents"]] == ["2.png", "3.png"]
    last = client.get(dir_url("lib1", "-", "a", "by-page", page=3, page_size=2, access_token=made.admin))
    assert [e["name"] for e in last.json["contents"]] == ["4.png"]


def test_order_and_filter(client, make_lib, clock) -> None:
    made = make_lib(album_based=True, albums=("b", "c", "a"))
    for name, width in [("m.png", 30), ("z.png", 10), ("a.png", 20)]:
        upload(client, made.admin, f"a/{name}", png_bytes(width, width))
        clock.advance(1)

    def names(path: str, *flags: str, **params: object) -> list[str]:
        answer = client.get(dir_url("lib1", "-", path, "by-marker=1", *flags, access_token=made.admin, **params))
        assert answer.status_code == 200, answer.json
        return [e["name"] for e in answer.json["contents"]]

    assert names("") == ["a", "b", "c"]  # directories by name
    assert names("", order_by="name", order_by_type="desc") == ["c", "b", "a"]
    assert names("a") == ["m.png", "z.png", "a.png"]  # media by upload time
    assert names("a", order_by="name") == ["a.png", "m.png", "z.png"]
    assert names("a", order_by="creationTime", order_by_type="desc") == ["a.png", "z.png", "m.png"]
    by_size = names("a", order_by="size")
    assert set(by_size) == {"a.png", "m.png", "z.png"} and by_size[0] == "z.png"
    assert names("", filter="onlyFile") == [] and names("a", filter="onlyDir") == []
    assert names("", filter="onlyDir") == ["a", "b", "c"]
    refused = [({"order_by": "colour"}, "OrderByNotAllowed"), ({"order_by_type": "up"}, "OrderByTypeNotAllowed")]
    for params, code in refused:
        answer = client.get(dir_url("lib1", "-", "a", access_token=made.admin, **params))
        assert (answer.status_code, answer.json["code"]) == (400, code)


def test_entries_carry_smh_fields(client, make_lib) -> None:
    made = make_lib(album_based=True, albums=("a",))
    data = jpeg_bytes(30, 20)
    upload(client, made.admin, "a/p.jpg", data, **{"x-smh-meta-camera": "X100", "x-smh-meta-place": "Lyon"})
    [entry] = client.get(dir_url("lib1", "-", "a", "by-marker=1", access_token=made.admin)).json["contents"]
    assert entry["name"] == "p.jpg" and entry["type"] == "image"
    assert entry["contentType"] == "image/jpeg"
    assert entry["size"] == str(len(data))  # a string, as SMH sends it
    assert entry["crc64"] == str(crc64_reference(data))  # CRC-64/XZ in decimal
    assert entry["eTag"] and entry["creationTime"].endswith("Z") and entry["modificationTime"].endswith("Z")
    assert entry["metaData"] == {"x-smh-meta-camera": "X100", "x-smh-meta-place": "Lyon"}
    [album] = client.get(dir_url("lib1", "-", "", access_token=made.admin)).json["contents"]
    assert (album["name"], album["type"]) == ("a", "dir") and album["creationTime"]


def test_head(client, make_lib) -> None:
    made = make_lib(album_based=True, albums=("a",))
    assert client.head(dir_url("lib1", "-", "a", access_token=made.admin)).status_code == 200
    assert client.head(dir_url("lib1", "-", "", access_token=made.admin)).status_code == 200
    assert client.head(dir_url("lib1", "-", "nope", access_token=made.admin)).status_code == 404
    assert client.head(dir_url("lib1", "-", "a")).status_code == 400  # no token


def test_rename_keeps_media_and_cover(client, make_lib) -> None:
    made = make_lib(album_based=True, albums=("old", "taken"))
    data = jpeg_bytes(40, 40)
    upload(client, made.admin, "old/p.jpg", data)
    assert client.get(f"{API}/album/lib1/-/cover/old" + qs(size=16, access_token=made.admin)).status_code == 302
    moved = client.put(dir_url("lib1", "-", "new", access_token=made.admin), json={"from": "old"})
    assert (moved.status_code, moved.data) == (204, b"")
    names = [e["name"] for e in client.get(dir_url("lib1", "-", "", access_token=made.admin)).json["contents"]]
    assert names == ["new", "taken"]
    [entry] = client.get(dir_url("lib1", "-", "new", access_token=made.admin)).json["contents"]
    assert entry["name"] == "p.jpg"
    cover = client.get(f"{API}/album/lib1/-/cover/new" + qs(size=16, access_token=made.admin))
    assert cover.status_code == 302
    old_cover = client.get(f"{API}/album/lib1/-/cover/old" + qs(size=16, access_token=made.admin))
    assert (old_cover.status_code, old_cover.json["code"]) == (404, "DirectoryNotFound")
    with client.get(client.get(file_url("lib1", "-", "new/p.jpg", access_token=made.admin)).headers["Location"]) as got:
        assert got.data == data


def test_rename_conflicts(client, make_lib) -> None:
    made = make_lib(album_based=True, albums=("a", "b"))
    ask = client.put(dir_url("lib1", "-", "b", access_token=made.admin), json={"from": "a"})
    assert (ask.status_code, ask.json["code"]) == (409, "SameNameDirectoryOrFileExists")
    renamed = client.put(dir_url("lib1", "-", "b", access_token=made.admin, conflict_resolution_strategy="rename"),
                         json={"from": "a"})  # fmt: skip
    assert (renamed.status_code, renamed.json) == (200, {"path": ["b(1)"]})
    missing = client.put(dir_url("lib1", "-", "c", access_token=made.admin), json={"from": "nope"})
    assert (missing.status_code, missing.json["code"]) == (404, "DirectoryNotFound")
    nested = client.put(dir_url("lib1", "-", "c", access_token=made.admin), json={"from": "b/x"})
    assert (nested.status_code, nested.json["code"]) == (400, "DirectoryLevelExceed")
    # Nothing was created by the failed moves.
    names = [e["name"] for e in client.get(dir_url("lib1", "-", "", access_token=made.admin)).json["contents"]]
    assert names == ["b", "b(1)"]


def test_delete_album(client, make_lib) -> None:
    made = make_lib(album_based=True, albums=("a",))
    upload(client, made.admin, "a/p.png", png_bytes())
    assert client.delete(dir_url("lib1", "-", "a", access_token=made.admin)).status_code == 204
    missing = client.delete(dir_url("lib1", "-", "a", access_token=made.admin, permanent=1))
    assert (missing.status_code, missing.json["code"]) == (404, "DirectoryNotFound")


def test_a_library_without_albums_lists_its_files_at_the_root(client, make_lib) -> None:
    made = make_lib()
    upload(client, made.admin, "p.png", png_bytes(7, 9))
    answer = client.get(dir_url("lib1", "-", "", "by-marker=1", access_token=made.admin))
    [entry] = answer.json["contents"]
    assert (entry["name"], entry["type"], entry["width"], entry["height"]) == ("p.png", "image", 7, 9)


def test_bad_marker(client, make_lib) -> None:
    made = make_lib(album_based=True, albums=("a",))
    answer = client.get(dir_url("lib1", "-", "", "by-marker=1", marker="zzz", access_token=made.admin))
    assert (answer.status_code, answer.json["code"]) == (404, "MarkerNotFound")
