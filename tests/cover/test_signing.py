"""Signed file URLs name (uid, version, rendition, size) and hold only in the installation that signed them."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_medialib import get_state, identity, signing
from flask_medialib.errors import HTTPError
from flask_medialib.models import Media, new_uid

UIDS = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=22, max_size=32)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    uid=UIDS,
    version=st.integers(1, 2**31 - 1),
    size=st.integers(0, 4096),
    rendition=st.sampled_from([signing.ORIGINAL, signing.COVER]),
    public=st.none() | st.booleans(),
    space_pk=st.integers(0, 2**31 - 1),
)
def test_a_signed_url_names_exactly_what_was_signed(app, uid, version, size, rendition, public, space_pk):
    token = signing.sign(rendition, Media(uid=uid, version=version), size, public=public, space_pk=space_pk)
    ref = signing.verify(token)
    assert (ref.rendition, ref.uid, ref.version, ref.size) == (rendition, uid, version, size)
    assert (ref.public, ref.space_pk) == ((bool(public), space_pk) if public is not None else (False, 0))


def test_a_url_signed_by_another_installation_is_refused_even_with_the_same_secret(app):
    token = signing.sign(signing.COVER, Media(uid=new_uid(), version=1), 64)
    assert signing.verify(token).size == 64
    state = get_state()
    mine = identity.installation_id()
    identity.remember(state, "another-installation-id")  # another database, same secret
    with pytest.raises(HTTPError) as refused:
        signing.verify(token)
    assert (refused.value.code, refused.value.code_name) == (403, "InvalidSignature")
    identity.remember(state, mine)
    assert signing.verify(token).size == 64
