"""Built-in features of every instance and the host's management API, health and OpenAPI."""

from __future__ import annotations

from tests.http.conftest import API_KEY, Served


async def test_about(served: Served) -> None:
    await served.http.get("/Feed/hello")
    about = (await served.http.get("/Feed/@about")).json()
    assert about["name"] == "Feed" and about["state"] == "running"
    assert about["sids"] == ["sid://reverie.dev/tests/http/feed"]
    assert about["requests"]["GET:hello"] == 1 and about["uptime"] >= 0


async def test_blueprint(served: Served) -> None:
    bp = (await served.http.get("/Feed/@blueprint")).json()
    assert bp["name"] == "Feed" and bp["schema"] == "reverie.blueprint/1"


async def test_get_config_masks_secrets_and_needs_the_internal_key(served: Served) -> None:
    assert (await served.http.get("/Feed/@config")).status_code == 401
    r = await served.http.get("/Feed/@config", headers=served.auth(served.internal_key))
    assert r.json() == {"limit": 10, "token": "****"}


async def test_put_config_is_private(served: Served) -> None:
    r = await served.http.put(
        "/Tunable/@config", json={"level": 2}, headers=served.auth(served.internal_key)
    )
    assert r.status_code == 403


async def test_put_config_applies_through_on_config(served: Served) -> None:
    inst = served.host.instance("Tunable")
    obj = inst.obj
    r = await served.http.put("/Tunable/@config", json={"level": 5}, headers=served.auth(API_KEY))
    assert r.status_code == 200 and r.json()["applied"] == "on_config"
    assert served.host.instance("Tunable").obj is obj  # same object, no restart
    assert (await served.http.get("/Tunable/level")).json() == 5
    assert obj.applied == [{"level": 5, "must_start": True}]


async def test_bad_config_is_400_and_the_old_stays(served: Served) -> None:
    r = await served.http.put(
        "/Tunable/@config", json={"level": "high"}, headers=served.auth(API_KEY)
    )
    assert r.status_code == 400
    assert "config of Tunable not changed" in r.json()["message"]
    assert r.json()["details"][0]["key"] == "level"
    r = await served.http.put("/Tunable/@config", json={"lvl": 3}, headers=served.auth(API_KEY))
    assert r.status_code == 400 and "unknown config key" in r.json()["message"]
    r = await served.http.put("/Tunable/@config", json={"level": 13}, headers=served.auth(API_KEY))
    assert r.status_code == 400
    assert "on_config hook refused the config (ValueError: 13 is unlucky)" in r.json()["message"]
    assert (await served.http.get("/Tunable/level")).json() == 1


async def test_put_config_without_hook_restarts(served: Served) -> None:
    before = served.host.instance("Plain")
    old_obj = before.obj
    r = await served.http.put("/Plain/@config", json={"size": 7}, headers=served.auth(API_KEY))
    assert r.status_code == 200 and r.json() == {"applied": "restart", "config": {"size": 7}}
    # Restarted in place: same instance (dependents' clients stay valid), a new object.
    assert served.host.instance("Plain") is before and before.obj is not old_obj
    assert (await served.http.get("/Plain/size")).json() == 7


async def test_delete_on_the_instance_path_stops_it(served: Served) -> None:
    assert (await served.http.delete("/Plain")).status_code == 401
    r = await served.http.delete("/Plain", headers=served.auth(API_KEY))
    assert r.json() == {"stopped": "Plain", "state": "stopped"}
    gone = await served.http.get("/Plain/size")  # stopped: unavailable, as on every transport
    assert gone.status_code == 503
    assert gone.json()["message"] == "instance 'Plain' is stopped, not running"


async def test_host_lists_blueprints_and_services(served: Served) -> None:
    h = served.auth(API_KEY)
    bps = (await served.http.get("/@host/blueprints", headers=h)).json()
    assert "sid://reverie.dev/tests/http/feed" in bps
    services = (await served.http.get("/@host/services", headers=h)).json()
    assert {s["path"] for s in services} == {"Feed", "Reader", "Tunable", "Plain"}


async def test_host_features_are_private(served: Served) -> None:
    assert (await served.http.get("/@host/services")).status_code == 401
    r = await served.http.get("/@host/services", headers=served.auth(served.internal_key))
    assert r.status_code == 403


async def test_post_services_starts_an_instance_at_a_path(served: Served) -> None:
    h = served.auth(API_KEY)
    r = await served.http.post(
        "/@host/services",
        headers=h,
        json={"sid": "sid://reverie.dev/tests/http/plain", "path": "plain2", "config": {"size": 3}},
    )
    assert r.status_code == 201 and r.json()["path"] == "plain2"
    assert (await served.http.get("/plain2/size")).json() == 3
    r = await served.http.post(
        "/@host/services", headers=h, json={"class": "tests.http.services:Plain", "path": "plain3"}
    )
    assert r.status_code == 201
    r = await served.http.delete("/@host/services/plain2", headers=h)
    assert r.status_code == 200
    assert (await served.http.get("/plain2/size")).status_code == 503  # stopped


async def test_post_services_errors(served: Served) -> None:
    h = served.auth(API_KEY)
    r = await served.http.post("/@host/services", headers=h, json={"sid": "sid://nope/x"})
    assert r.status_code == 400 and "no service registered for sid://nope/x" in r.json()["message"]
    r = await served.http.post(
        "/@host/services",
        headers=h,
        json={"sid": "sid://reverie.dev/tests/http/plain", "path": "Feed"},
    )
    assert r.status_code == 409 and "path 'Feed' is in use by Feed" in r.json()["message"]
    r = await served.http.post(
        "/@host/services",
        headers=h,
        json={"sid": "sid://reverie.dev/tests/http/plain", "path": "p", "config": {"size": "big"}},
    )
    assert r.status_code == 400 and r.json()["details"][0]["key"] == "size"
    r = await served.http.post("/@host/services", headers=h, json={"class": "os:system"})
    assert r.status_code == 400 and "is not registered in this host" in r.json()["message"]
    r = await served.http.post("/@host/services", headers=h, json={"path": "x"})
    assert r.status_code == 400
    r = await served.http.delete("/@host/services/ghost", headers=h)
    assert r.status_code == 404 and "no instance at path 'ghost'" in r.json()["message"]


async def test_failed_start_is_500_with_cause_and_frees_the_path(served: Served) -> None:
    h = served.auth(API_KEY)
    spec = {
        "sid": "sid://reverie.dev/tests/http/tunable",
        "path": "t2",
        "config": {"must_start": False},
    }
    r = await served.http.post("/@host/services", headers=h, json=spec)
    assert r.status_code == 500
    assert r.json()["details"]["cause"] == "RuntimeError: told not to start"
    assert "t2" not in served.host.instances
    spec["config"] = {"must_start": True}
    r = await served.http.post("/@host/services", headers=h, json=spec)
    assert r.status_code == 201


async def test_health(served: Served) -> None:
    assert (await served.http.get("/health/live")).json() == {"status": "live"}
    r = await served.http.get("/health/ready")
    assert r.status_code == 200 and r.json()["status"] == "ready"
    await served.host.instance("Plain").run_hooks("on_shutdown")
    served.host.instance("Plain").accepting = False
    from reverie._private.host.lifecycle import State

    served.host.instance("Plain").state = State.STOPPING
    r = await served.http.get("/health/ready")
    assert r.status_code == 503 and r.json()["waiting"] == {"Plain": "stopping"}
    served.host.instance("Plain").state = State.RUNNING


async def test_openapi_and_docs(served: Served) -> None:
    doc = (await served.http.get("/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"
    assert "/Feed/items/{id}" in doc["paths"] and "/Feed/count" in doc["paths"]
    assert "/Feed/private" not in doc["paths"]
    assert doc["info"]["title"] == "Reverie: host" and doc["info"]["version"] != "0"
    assert "/Feed/internal" in doc["paths"]
    internal = doc["paths"]["/Feed/internal"]["get"]
    assert internal["x-reverie-access"] == "internal" and internal["security"]
    page = await served.http.get("/docs")
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>Reverie: host: API</title>" in page.text
    for src in (
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/swagger-ui.css",
        "/docs/assets/docs.js",
    ):
        assert src in page.text
        got = await served.http.get(src)
        assert got.status_code == 200 and len(got.content) > 100, src
    old = (await served.http.get("/docs/openapi-3.0.json")).json()
    assert old["openapi"] == "3.0.3" and old["paths"].keys() == doc["paths"].keys()
    missing = await served.http.get("/docs/assets/../../etc/passwd")
    assert missing.status_code == 404
    nothing = await served.http.get("/docs/assets/index.html")
    assert nothing.status_code == 404
    assert "it has /docs, /docs/openapi-3.0.json and /docs/assets/<file>" in nothing.text
