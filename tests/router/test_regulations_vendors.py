"""A GDPR delete fans out to every vendor, each through its own documented delete call."""
from __future__ import annotations

from tests.destinations.custobar.fake_custobar import FakeCustobar
from tests.destinations.extole.fake_extole import API_KEY as EXTOLE_KEY
from tests.destinations.extole.fake_extole import FakeExtole
from tests.destinations.stickystreet.fake_stickystreet import ACCOUNT_ID, FakeStickyStreet
from tests.destinations.stickystreet.fake_stickystreet import API_KEY as STICKY_KEY
from tests.destinations.stickystreet.fake_stickystreet import USER_ID as STICKY_USER
from tests.destinations.yespo.fake_yespo import API_KEY as YESPO_KEY
from tests.destinations.yespo.fake_yespo import FakeYespo
from tests.fakes.http import FakeServer
from tests.helpers import WRITE_KEY, webhook_destination, work

ADMIN = {"Authorization": "Bearer admin-secret-token"}
IDENTIFY = {"type": "identify", "userId": "user-7", "messageId": "id-1",
            "traits": {"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace"}}


def test_a_regulation_deletes_the_user_at_extole_custobar_yespo_sticky_street_and_the_webhook(make_runtime, client_for):
    with FakeExtole() as extole, FakeCustobar() as custobar, FakeYespo() as yespo, FakeStickyStreet() as sticky, \
            FakeServer() as hook:
        rt = make_runtime(destinations=[
            {"name": "extole", "type": "extole", "settings": {"api_key": EXTOLE_KEY, "base_url": extole.base_url}},
            {"name": "custobar", "type": "custobar", "settings": {"token": "cb-token-1234", "base_url": custobar.base_url}},
            {"name": "yespo", "type": "yespo", "settings": {"api_key": YESPO_KEY, "base_url": yespo.base_url}},
            {"name": "sticky", "type": "stickystreet", "settings": {
                "user_id": STICKY_USER, "user_api_key": STICKY_KEY, "account_id": ACCOUNT_ID,
                "campaigns_to_include": "898989", "base_url": sticky.base_url}},
            webhook_destination(hook.base_url),
        ])
        client = client_for(rt)
        client.post("/v1/batch", json={"writeKey": WRITE_KEY, "batch": [IDENTIFY]})
        work(rt)
        assert "user-7" in sticky.customers and "externalCustomerId:user-7" in yespo.contacts

        r = client.post("/v1/regulations", headers=ADMIN,
                        json={"regulationType": "SUPPRESS_WITH_DELETE", "subjectType": "USER_ID", "subjectIds": ["user-7"]})
        reg_id = r.get_json()["regulateId"]
        work(rt)

        erasure = extole.requests[-1]
        assert (erasure.path, erasure.json()["partner_user_id"]) == ("/v4/erasures", "user-7")
        assert custobar.requests[-1].json() == {"customers": [{"external_id": "user-7", "is_deleted": True}]}
        last = yespo.requests[-1]
        assert (last.method, last.path, last.query) == ("DELETE", "/api/v1/contact",
                                                        {"externalCustomerId": ["user-7"], "erase": ["true"]})
        assert "externalCustomerId:user-7" not in yespo.contacts
        assert sticky.deleted == ["user-7"] and "user-7" not in sticky.customers
        assert (hook.requests[-1].json()["type"], hook.requests[-1].json()["userId"]) == ("delete", "user-7")
        assert sticky.violations == []

        status = client.get(f"/v1/regulations/{reg_id}", headers=ADMIN).get_json()
        assert status["status"] == "finished"
        assert {name: d["status"] for name, d in status["destinations"].items()} == dict.fromkeys(
            ["custobar", "extole", "hook", "sticky", "yespo"], "finished")

        # suppressed from now on: a new identify is answered 200 and goes nowhere
        before = sum(len(v.requests) for v in (extole, custobar, yespo, sticky, hook))
        assert client.post("/v1/identify", json={**IDENTIFY, "messageId": "id-2", "writeKey": WRITE_KEY}).status_code == 200
        work(rt)
        assert sum(len(v.requests) for v in (extole, custobar, yespo, sticky, hook)) == before
