"""A GET of a plain public feature is resolved once and then taken by the fast path; every rule
of the resolving path still holds after the path is remembered: exposure, a stopped instance, a
new instance at the path, the concurrency limit, request counts, the request context."""

from __future__ import annotations

from reverie import current_context, feature, service
from reverie._private.http.limits import HttpLimits
from tests.http.conftest import Served


async def test_a_remembered_path_follows_exposure_changes(served: Served) -> None:
    app = served.server.app
    r1 = await served.http.get("/Plain/size")
    r2 = await served.http.get("/Plain/size")
    assert r1.status_code == r2.status_code == 200
    assert "/Plain/size" in app._fast  # remembered
    app.exposed = {"Reader"}
    r = await served.http.get("/Plain/size")
    assert r.status_code == 404
    assert r.json()["message"] == "no service is mounted at /Plain; mounted: /Reader"
    app.expose("Plain")
    assert (await served.http.get("/Plain/size")).status_code == 200


async def test_a_remembered_path_of_a_stopped_instance_answers_503(served: Served) -> None:
    assert (await served.http.get("/Plain/size")).status_code == 200
    assert (await served.http.get("/Plain/size")).status_code == 200
    assert served.host.instance("Plain").requests["GET:size"] == 2
    await served.host.stop_instance("Plain")
    r = await served.http.get("/Plain/size")
    assert r.status_code == 503
    assert r.json()["message"] == "instance 'Plain' is stopped, not running"


@service(name="Slow")
class Slow:
    @feature("GET:ctx")
    async def ctx(self) -> dict[str, object]:
        ctx = current_context()
        assert ctx is not None
        return {"id": ctx.request_id, "has_deadline": ctx.deadline is not None}


async def test_the_fast_path_keeps_the_request_context_and_the_limit(served: Served) -> None:
    served.host.register(Slow)
    await served.host.start(Slow)
    for _ in range(2):
        r = await served.http.get(
            "/Slow/ctx", headers={"X-Request-Id": "abc", "X-Reverie-Timeout": "5"}
        )
        assert r.json() == {"id": "abc", "has_deadline": True}
    assert "/Slow/ctx" in served.server.app._fast
    r = await served.http.get("/Slow/ctx", headers={"X-Request-Id": "xyz"})
    assert r.json() == {"id": "xyz", "has_deadline": False}
    r = await served.http.get("/Slow/ctx")  # no context headers: a new id
    assert r.json()["id"] not in ("abc", "xyz") and not r.json()["has_deadline"]
    r = await served.http.get("/Slow/ctx", headers={"X-Reverie-Timeout": "soon"})
    assert r.status_code == 400
    assert "X-Reverie-Timeout must be a finite number" in r.json()["message"]
    served.server.app.limits = HttpLimits(max_concurrent=0)  # clears what was remembered
    assert "/Slow/ctx" not in served.server.app._fast
    r = await served.http.get("/Slow/ctx")
    assert r.status_code == 503
    assert "its limit (max_concurrent)" in r.json()["message"]
