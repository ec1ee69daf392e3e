"""``quaykey up`` over HTTP: state against its own OpenAPI schema, metrics, SSE, actions, no keys.

One ``quaykey up`` subprocess (the full network with Micius, the ``ci`` profile's
applications over the hub KMEs) serves every test of this module.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families
from up_process import REPO, UpProcess

from quaykey.kms.client import KmeClient
from quaykey.kms.pki import PkiLayout
from quaykey.operate.models import State

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kms"))
from test_kms_security import needles

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    state = tmp_path_factory.mktemp("up") / "state"
    p = UpProcess(state, duration_s=240)
    try:
        p.wait_for(lambda s: sum(k["keys_served"] for k in s["kmes"]) > 0, timeout_s=90)
        yield p
    finally:
        p.stop()


def _link_between(state: dict[str, Any], a: str, b: str) -> str:
    return next(x["id"] for x in state["links"] if {x["a"], x["b"]} == {a, b})


def test_healthz_and_state_validate_against_the_apps_own_openapi_schema(up: UpProcess) -> None:
    assert up.http.get("/healthz").json() == {"status": "ok"}
    schema = up.http.get("/openapi.json").json()
    doc = up.state_json()
    root = {"$ref": "#/components/schemas/State", "components": schema["components"]}
    jsonschema.validate(doc, root)
    State.model_validate(doc)
    assert len(doc["nodes"]) == 60 and sum(x["kind"] == "satellite" for x in doc["links"]) == 6
    fibre = [x for x in doc["links"] if x["kind"] == "fibre" and not x["cut"]]
    assert all(x["key_rate_bps"] > 0 and 0 < x["qber"] < 0.05 for x in fibre)
    assert {k["node"] for k in doc["kmes"]} == {"shanghai", "hefei", "beijing"}
    assert all(k["up"] and k["audit_ok"] for k in doc["kmes"])
    assert doc["satellite"]["name"] == "micius" and len(doc["satellite"]["ground_track"]) > 10
    assert sum(doc["apps"]["messages_by_class"].values()) > 0


def test_metrics_parse_and_carry_rates_qber_pools_kme_requests(up: UpProcess) -> None:
    text = up.http.get("/metrics").text
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    for name in ("link_key_rate_bps", "link_qber", "link_pool_bits", "kme_requests",
                 "kme_request_seconds", "app_messages", "feed_deposited_bytes"):  # fmt: skip
        assert "quaykey_up_" + name in fams, name
    rates = [s.value for s in fams["quaykey_up_link_key_rate_bps"].samples]
    assert len(rates) == 67 and max(rates) > 0
    ok = [s.value for s in fams["quaykey_up_kme_requests"].samples
          if s.name.endswith("_total") and s.labels["outcome"] == "ok"]  # fmt: skip
    assert sum(ok) > 0


def test_sse_sends_state_with_its_seq_as_id(up: UpProcess) -> None:
    with up.http.stream("GET", "/api/events", timeout=30) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        seen: list[tuple[str, str, dict[str, Any]]] = []
        ev, eid = "", ""
        for line in r.iter_lines():
            if line.startswith("event:"):
                ev = line.split(":", 1)[1].strip()
            elif line.startswith("id:"):
                eid = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and ev == "state":
                seen.append((ev, eid, json.loads(line.split(":", 1)[1])))
                if len(seen) == 2:
                    break
    (_, id0, s0), (_, id1, s1) = seen
    assert int(id0) == s0["events_seq"] and int(id1) == s1["events_seq"] > s0["events_seq"]
    assert s1["t_sim"] > s0["t_sim"] and s1["emitted_unix_ms"] > 0


def test_actions_need_the_token_and_bad_bodies_name_the_field(up: UpProcess) -> None:
    link = up.state_json()["links"][0]["id"]
    assert up.action("cut", {"link": link}, token=None).status_code == 401
    assert up.action("cut", {"link": link}, token="wrong").status_code == 401
    assert up.action("explode", {"link": link}).status_code == 404
    r = up.action("eavesdrop", {"link": link, "fraction": 2})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "fraction"
    r = up.action("cut", {"link": "nowhere--atall"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "link"
    r = up.action("policy", {"message_type": "edi", "protection": "rot13"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "protection"
    assert not any(a["args"].get("link") == link for a in up.state_json()["actions"])


def test_eavesdropper_raises_qber_alarm_quarantines_and_reroutes(up: UpProcess) -> None:
    s = up.state_json()
    route = next(r for r in s["routes"] if r["id"] == "sipg-ops->customs-hq-beijing")
    link = _link_between(s, route["path"][0], route["path"][1])
    r = up.action("eavesdrop", {"link": link, "fraction": 1.0})
    assert r.status_code == 200 and r.json()["ok"] is True
    s = up.wait_for(lambda s: any(a["link"] == link and a["kind"] == "qber" for a in s["alarms"]))
    x = next(x for x in s["links"] if x["id"] == link)
    assert x["quarantined"] and x["alarm"] == "qber" and x["qber"] > 0.11 and x["key_rate_bps"] == 0
    route = next(r for r in s["routes"] if r["id"] == "sipg-ops->customs-hq-beijing")
    assert route["status"] == "rerouted" and route["path"][1] not in (x["a"], x["b"])
    served = sum(k["keys_served"] for k in s["kmes"])
    up.wait_for(lambda s: sum(k["keys_served"] for k in s["kmes"]) > served)  # apps go on
    assert up.action("clear", {"link": link}).status_code == 200
    s = up.wait_for(lambda s: next(x for x in s["links"] if x["id"] == link)["alarm"] == "ok")
    assert [a["action"] for a in s["actions"]][-2:] == ["eavesdrop", "clear"]


def test_cut_restore_kill_restart_policy_are_applied_and_audited(up: UpProcess) -> None:
    s = up.state_json()
    link = _link_between(s, "sh-lingang", "yangshan-terminal")
    t_cut = up.action("cut", {"link": link}).json()["t_sim"]
    s = up.wait_for(lambda s: s["t_sim"] > t_cut)  # a tick after the cut
    assert next(x for x in s["links"] if x["id"] == link)["alarm"] == "cut"
    route = next(r for r in s["routes"] if r["src"] == "yangshan-terminal")
    assert route["status"] == "down" and route["path"] == []

    def reachable() -> bool:  # the last word of the log on the site's SAE
        said = [e for e in up.log_events() if e.get("event") == "sae_reach"]
        return [e["reachable"] for e in said if e["sae"] == "yangshan-terminal"][-1]

    assert reachable() is False
    t_restore = up.action("restore", {"link": link}).json()["t_sim"]
    up.wait_for(lambda s: s["t_sim"] > t_restore)
    assert reachable() is True
    assert up.action("kill-kme", {"node": "hefei"}).status_code == 200
    s = up.wait_for(lambda s: next(k for k in s["kmes"] if k["node"] == "hefei")["up"] is False)
    assert next(n for n in s["nodes"] if n["id"] == "hefei")["kme"] == "down"
    assert up.action("restart-kme", {"node": "hefei"}).status_code == 200
    up.wait_for(lambda s: next(k for k in s["kmes"] if k["node"] == "hefei")["up"] is True)
    assert up.action("kill-kme", {"node": "tianjin"}).status_code == 422
    assert up.action("policy", {"message_type": "edi", "protection": "otp"}).status_code == 200
    with sqlite3.connect(up.state / "operate.db") as db:
        audited = [r[0] for r in db.execute("SELECT action FROM audit ORDER BY seq")]
    assert audited[-5:] == ["cut", "restore", "kill-kme", "restart-kme", "policy"]
    logged = [e.get("action") for e in up.log_events() if e.get("event") == "action"]
    assert logged[-5:] == audited[-5:]


def test_no_response_and_no_log_line_contains_key_bytes(up: UpProcess) -> None:
    pki = PkiLayout(up.state / "kms" / "pki")
    cert, key = pki.sae("sipg-ops")
    kme = next(k for k in up.state_json()["kmes"] if k["node"] == "shanghai")
    c = KmeClient(kme["url"], ca=pki.ca_cert, cert=cert, key=key)
    try:
        keys = [base64.b64decode(k.key) for k in c.get_key("customs-hq-beijing", number=4).keys]
    finally:
        c.close()
    link_blocks = []
    secret = bytes.fromhex((up.state / "kms" / "link-key.secret").read_text().strip())
    for tick in range(1, 20):
        link_blocks.append(
            hashlib.shake_256(secret + f"shanghai--hefei/{tick}".encode()).digest(64)
        )
    events = b""
    with up.http.stream("GET", "/api/events", timeout=30) as r:
        for n, line in enumerate(r.iter_lines()):
            events += line.encode()
            if n > 12:
                break
    hay = {
        "state": up.http.get("/api/state").content,
        "metrics": up.http.get("/metrics").content,
        "events": events,
        "logs": up.logs().encode(),
    }
    for raw in keys + link_blocks:
        for needle in needles(raw):
            for name, text in hay.items():
                assert needle not in text, f"key material in {name}"


def test_unknown_action_bodies_are_refused_without_token_first(up: UpProcess) -> None:
    r = httpx.post(f"{up.url}/api/actions/cut", content=b"not json")
    assert r.status_code == 401  # the token is checked before anything else


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--speed", "0"], "--speed"),
        (["--network", "mars"], "--network"),
        (["--start", "yesterday"], "--start"),
    ],
)
def test_bad_flags_are_one_line_errors_before_anything_starts(
    tmp_path: Path, args: list[str], flag: str
) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    cmd = [sys.executable, "-m", "quaykey.cli.main", "up", "--state-dir", str(tmp_path / "s")]
    r = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and flag in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "s").exists()
