"""SMH errors (contract section 6): ``{code, message, requestId}``, the id also in ``X-Request-Id``,
SMH's codes and statuses; and the CRC-64/XZ the SDKs check against."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from smh_helpers import API, crc64_reference, dir_url, qs

from flask_medialib.crc import crc64
from flask_medialib.errors import OWN_CODES


def test_error_body_and_request_id_header(client, make_lib) -> None:
    make_lib()
    answer = client.get(dir_url("lib1", "-", ""))
    assert answer.status_code == 400
    assert set(answer.json) == {"code", "message", "requestId"}
    assert answer.json["code"] == "EmptyAccessToken"
    assert answer.headers["X-Request-Id"] == answer.json["requestId"]


def test_unrouted_urls_are_route_not_found(client) -> None:
    answer = client.get(f"{API}/recycled/lib1/-")
    assert (answer.status_code, answer.json["code"]) == (404, "RouteNotFound")


def test_smh_codes_where_smh_has_them(client, make_lib) -> None:
    made = make_lib(album_based=True, albums=("a",))
    cases = [
        (f"{API}/token" + qs(library_id="lib1", library_secret="wrong"), 404, "WrongLibraryIdOrSecret"),
        (f"{API}/token" + qs(library_id="lib1"), 400, "EmptyLibrarySecret"),
        (dir_url("lib1", "-", "a", limit=0, access_token=made.admin), 400, "ParamInvalid"),
        (dir_url("nolib", "-", "a", access_token=made.admin), 404, "LibraryNotFound"),
        (dir_url("lib1", "s9", "a", access_token=made.admin), 404, "SpaceNotFound"),
        (dir_url("lib1", "-", "b", access_token=made.admin), 404, "DirectoryNotFound"),
    ]
    for url, status, code in cases:
        answer = client.get(url)
        assert (answer.status_code, answer.json["code"]) == (status, code), url
        assert code not in OWN_CODES  # our own codes are only for what SMH has no code for


@given(st.binary(max_size=300), st.integers(0, 300))
def test_crc64_is_crc64_xz_and_continues_across_chunks(data: bytes, cut: int) -> None:
    assert crc64(data) == crc64_reference(data)
    cut = min(cut, len(data))
    assert crc64(data[cut:], crc64(data[:cut])) == crc64(data)


def test_crc64_check_value() -> None:
    assert crc64(b"123456789") == 0x995DC9BBDF1939FA  # the catalogue's check value of CRC-64/XZ
