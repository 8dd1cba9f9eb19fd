"""Features over real HTTP: routing, statuses, parameter sources and validation, responses."""

from __future__ import annotations

from tests.http.conftest import Served


async def test_get_feature_answers_json(served: Served) -> None:
    r = await served.http.get("/Feed/hello")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == "hello"


async def test_unknown_feature_is_404_with_problem_body(served: Served) -> None:
    r = await served.http.get("/Feed/nope")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == "not_found" and body["status"] == 404 and body["title"] == "Not Found"
    assert "Feed (at /Feed) has no feature or endpoint at /nope" in body["message"]


async def test_unknown_service_is_404_naming_the_mounts(served: Served) -> None:
    r = await served.http.get("/Nothing/hello")
    assert r.status_code == 404
    assert "no service is mounted at /Nothing; mounted: " in r.json()["message"]
    assert "/Feed" in r.json()["message"]


async def test_wrong_verb_is_405_with_allow(served: Served) -> None:
    r = await served.http.delete("/Feed/hello")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD, OPTIONS"
    assert "does not answer DELETE" in r.json()["message"]


async def test_options_is_answered_automatically(served: Served) -> None:
    r = await served.http.options("/Feed/items")
    assert r.status_code == 204
    assert r.headers["allow"] == "GET, HEAD, OPTIONS, POST"


async def test_head_runs_get_without_a_body(served: Served) -> None:
    r = await served.http.head("/Feed/hello")
    assert r.status_code == 200 and r.content == b""


async def test_path_parameter_is_converted_and_query_read(served: Served) -> None:
    r = await served.http.get("/Feed/items/42", params={"verbose": "true"})
    assert r.json() == {"id": 42, "verbose": True}


async def test_bad_path_value_is_422_naming_field_and_type_not_value(served: Served) -> None:
    r = await served.http.get("/Feed/items/abc")
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "invalid_argument"
    assert body["details"][0]["loc"] == ["path", "id"]
    assert body["details"][0]["expected"] == "int"
    assert body["details"][0]["input"] == "<str of 3 characters, not shown>"  # URLs get logged
    assert "path.id: expected int, got '<str of 3 characters, not shown>'" in body["message"]
    assert "abc" not in r.text


async def test_every_bad_field_is_reported_at_once(served: Served) -> None:
    r = await served.http.get("/Feed/items/x", params={"verbose": "maybe"})
    locs = [d["loc"] for d in r.json()["details"]]
    assert locs == [["path", "id"], ["query", "verbose"]]


async def test_path_parameter_wins_over_query(served: Served) -> None:
    r = await served.http.get("/Feed/items/5", params={"id": "9"})
    assert r.json()["id"] == 5


async def test_repeated_query_parameter_fills_a_list(served: Served) -> None:
    r = await served.http.get("/Feed/items", params=[("tag", "a"), ("tag", "b"), ("limit", "3")])
    assert r.json() == {"tags": ["a", "b"], "limit": 3}


async def test_optional_segment_and_query_fallback(served: Served) -> None:
    assert (await served.http.get("/Feed/pair/x")).json() == ["x", None]
    assert (await served.http.get("/Feed/pair/x/2")).json() == ["x", 2]
    assert (await served.http.get("/Feed/pair/x", params={"b": "4"})).json() == ["x", 4]


async def test_catch_all_suffix(served: Served) -> None:
    r = await served.http.get("/Feed/files/a/b/c.txt")
    assert r.json() == "a/b/c.txt"


async def test_body_is_validated_from_the_signature(served: Served) -> None:
    ok = await served.http.post("/Feed/items", json={"name": "pen", "qty": 2})
    assert ok.status_code == 200 and ok.json() == {"name": "PEN", "qty": 2}
    bad = await served.http.post("/Feed/items", json={"name": "pen", "qty": "many"})
    assert bad.status_code == 422
    detail = bad.json()["details"][0]
    assert detail["loc"] == ["body", "item", "qty"] and detail["input"] == "many"


async def test_missing_body_is_422_and_malformed_json_400(served: Served) -> None:
    r = await served.http.post("/Feed/items")
    assert r.status_code == 422
    assert "body.item: expected Item, got None" in r.json()["message"]
    r = await served.http.post("/Feed/items", content=b"{nope")
    assert r.status_code == 400
    assert "the request body is not valid JSON" in r.json()["message"]


async def test_path_and_dataclass_body_together(served: Served) -> None:
    r = await served.http.put("/Feed/items/3", json={"text": "hi"})
    assert r.json() == {"id": 3, "text": "hi"}


async def test_any_verb_feature_gets_the_raw_request_without_the_key(served: Served) -> None:
    r = await served.http.patch(
        "/Feed/echo", params={"a": "1"}, content=b"xyz", headers=served.auth(served.internal_key)
    )
    assert r.json() == {"method": "PATCH", "body": "xyz", "q": {"a": "1"}, "has_auth": False}


async def test_response_object_controls_status_headers_and_bytes(served: Served) -> None:
    r = await served.http.get("/Feed/raw")
    assert r.status_code == 201
    assert r.headers["x-a"] == "b" and r.headers["content-type"] == "image/png"
    assert r.content == b"\x89PNG"


async def test_streaming_response(served: Served) -> None:
    r = await served.http.get("/Feed/chunks")
    assert r.text == "abc" and r.headers["content-type"] == "text/plain"


async def test_handler_error_is_500_with_type_and_message(served: Served) -> None:
    r = await served.http.get("/Feed/fail")
    assert r.status_code == 500
    body = r.json()
    assert body["code"] == "remote" and body["type"] == "ValueError"
    assert body["message"] == "feature broke" and body["request_id"]


async def test_service_error_keeps_its_status(served: Served) -> None:
    r = await served.http.get("/Feed/teapot")
    assert r.status_code == 418 and r.json()["message"] == "I am a teapot"


async def test_context_comes_from_headers(served: Served) -> None:
    r = await served.http.get(
        "/Feed/ctx", headers={"X-Request-Id": "req-7", "X-Reverie-Timeout": "3"}
    )
    body = r.json()
    assert body["request_id"] == "req-7" and 0 < body["remaining"] <= 3


async def test_deadline_header_is_enforced_with_504(served: Served) -> None:
    from tests.http.services import event

    event("feature-slow:cancelled").clear()
    r = await served.http.get("/Feed/slow", headers={"X-Reverie-Timeout": "0.05"})
    assert r.status_code == 504 and r.json()["code"] == "deadline_exceeded"
    assert event("feature-slow:cancelled").is_set()


async def test_body_over_the_limit_is_413(served: Served) -> None:
    r = await served.http.post("/Feed/items", content=b"x" * (65 * 1024))
    assert r.status_code == 413
    assert "exceeds this host's limit of 65536 bytes" in r.json()["message"]


async def test_requests_are_counted_per_feature(served: Served) -> None:
    await served.http.get("/Feed/hello")
    await served.http.get("/Feed/hello")
    assert served.host.instance("Feed").requests["GET:hello"] == 2
