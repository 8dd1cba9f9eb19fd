"""A service that is not exposed is reachable only by its dependents (and the operator), never
publicly by accident: 404 without a host key, and the 404 does not list it."""

from __future__ import annotations

from tests.http.conftest import API_KEY, Served


async def test_an_unexposed_service_is_not_found_and_not_listed(served: Served) -> None:
    served.server.app.exposed = {"Reader"}
    r = await served.http.get("/Plain/size")
    assert r.status_code == 404
    assert r.json()["message"] == "no service is mounted at /Plain; mounted: /Reader"


async def test_its_dependents_and_the_operator_still_reach_it(served: Served) -> None:
    served.server.app.exposed = {"Reader"}
    r = await served.http.get("/Reader/via-plug")  # Reader's Plug to Feed carries the internal key
    assert r.json() == {"hello": "hello", "internal": 200}
    assert (await served.http.get("/Plain/size", headers=served.auth(API_KEY))).status_code != 404


async def test_its_private_built_ins_still_ask_for_the_key(served: Served) -> None:
    served.server.app.exposed = {"Reader"}
    r = await served.http.get("/Plain/@config")
    assert r.status_code == 401  # an operator route: access control, not exposure, answers
    assert (await served.http.get("/Plain/@about")).status_code == 404  # public: hidden
