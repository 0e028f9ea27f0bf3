"""Models: consistent for qtmodeltester, live by single rows, fast at 10,000 sites."""

from __future__ import annotations

import random
from typing import Any

import pytest
import samples
from PySide6.QtCore import QModelIndex, Qt

from sessionmgr.gui.models import (
    EventsModel,
    HelpersModel,
    SiteFilterProxy,
    SiteTableModel,
)


def many_sites(count: int) -> list[dict[str, Any]]:
    people = ["bear", "bob", "alice", "carol", "dave", "erin", "frank"]
    states = []
    for i in range(count):
        who = people[i % len(people)]
        sessions = [samples.session(f"{who}{i % 13}@mail.example", cookie="SID" if i % 3 else None)]
        if i % 4 == 0:
            sessions.append(samples.session(f"{who}.work@corp.example", "passive"))
        states.append(samples.state(f"site{i:05d}.example.com", sessions=sessions,
                                    supported=i % 10 != 0, updated_at=str(1_700_000_000 + i)))
    return sorted(states, key=lambda s: s["site"])


def texts(model: Any, column: int = 0) -> list[str]:
    return [model.index(r, column).data() for r in range(model.rowCount())]


@pytest.mark.parametrize("through_proxy", [False, True])
def test_site_model_passes_the_model_tester(qtmodeltester: Any, through_proxy: bool) -> None:
    model = SiteTableModel()
    model.reset(many_sites(50))
    proxy = SiteFilterProxy(model)
    if through_proxy:
        proxy.set_needle("1")
    qtmodeltester.check(proxy if through_proxy else model, force_py=True)
    # Live changes under the tester's watch: update, insert, move by sort, remove.
    rng = random.Random(5)
    for column in (0, 1, 5):
        proxy.sort(column, Qt.SortOrder.DescendingOrder if column == 5 else
                   Qt.SortOrder.AscendingOrder)
        for step in range(60):
            site = f"site{rng.randrange(70):05d}.example.com"
            if step % 7 == 0:
                model.apply({site: None})
            else:
                who = rng.choice(["zed", "amy", "bob"])
                model.apply({site: samples.state(site, sessions=[samples.session(f"{who}@x")],
                                                 updated_at=str(1_800_000_000 + step))})
        keys = [model._rows[r].key for r in range(model.rowCount())]
        assert keys == sorted(keys, reverse=column == 5)
        assert all(model.row_of(model.index(r, 0).data()) == r for r in range(model.rowCount()))


def test_updates_are_single_rows_not_resets(qtbot: Any) -> None:
    model = SiteTableModel()
    model.reset(many_sites(100))
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    changed: list[int] = []
    model.dataChanged.connect(lambda tl, br: changed.append(tl.row()))
    site = "site00042.example.com"
    model.apply({site: {**model.state(site), "pending": samples.event(site, "logout")}})
    assert changed == [42] and not resets
    with qtbot.waitSignal(model.rowsInserted):
        model.apply({"aaa.example": samples.LOGIN | {"site": "aaa.example"}})
    assert model.index(0, 0).data() == "aaa.example"
    with qtbot.waitSignal(model.rowsRemoved):
        model.apply({"aaa.example": None})
    assert not resets


def test_search_text_follows_each_rows_changes() -> None:
    """The search text is made at the first search and kept per site: a change or a
    removal of the site drops it, so the next search sees the new state."""
    model = SiteTableModel()
    model.reset(many_sites(30))
    site = "site00007.example.com"
    assert not model.matches(model.row_of(site), "zed@")
    model.apply({site: samples.state(site, sessions=[samples.session("zed@x.example")])})
    assert model.matches(model.row_of(site), "zed@")
    model.apply({site: None})
    assert model.row_of(site) == -1
    model.apply({site: samples.state(site, sessions=[samples.session("amy@x.example")])})
    row = model.row_of(site)
    assert model.index(row, 0).data() == site
    assert model.matches(row, "amy@") and not model.matches(row, "zed@")


def test_sites_are_found_in_every_order_the_table_can_have() -> None:
    """Sorted by site, a site's row is found by binary search on the sites; sorted by
    another column, through an index of the rows: both follow inserts and removals."""
    model = SiteTableModel()
    model.reset(many_sites(40))
    for column, order in ((1, Qt.SortOrder.AscendingOrder), (0, Qt.SortOrder.DescendingOrder),
                          (5, Qt.SortOrder.DescendingOrder), (0, Qt.SortOrder.AscendingOrder)):
        model.sort(column, order)
        model.apply({"site00003.example.com": None,
                     f"new{column}{order.value}.example": samples.LOGIN | {
                         "site": f"new{column}{order.value}.example"}})
        sites = [model.index(r, 0).data() for r in range(model.rowCount())]
        assert "site00003.example.com" not in sites
        assert [model.row_of(site) for site in sites] == list(range(len(sites)))
        assert model.row_of("site00003.example.com") == -1
        assert model.row_of("zzz.example") == model.row_of("") == -1
        assert model.state(sites[-1]) == model.state_at(len(sites) - 1)
        assert model.state("site00003.example.com") is None


def test_columns_say_what_a_person_needs() -> None:
    model = SiteTableModel()
    model.reset([samples.STAY_SIGNED_IN, samples.PENDING_SWITCH | {"site": "pending.example"},
                 samples.UNSUPPORTED | {"site": "plain.example"}])
    first = [model.index(0, c).data() for c in range(6)]
    assert first[:5] == ["example.com", "bear@example.com",
                         "bob@example.com, bear.work@example.com", "cookie SID", "21 Dec 2026"]
    assert first[5]  # a local time
    assert model.index(1, 1).data() == "Switching to bob@example.com…"
    assert model.index(2, 1).data() == "—"
    assert model.state_at(0) == model.state("example.com") == samples.STAY_SIGNED_IN
    assert model.index(0, 0).data(Qt.ItemDataRole.DecorationRole) is not None


def test_filter_10000_sites(qtbot: Any) -> None:
    """Correctness at scale; how fast it is lives in tests/benchmarks (scale)."""
    model = SiteTableModel()
    model.reset(many_sites(10_000))
    proxy = SiteFilterProxy(model)
    assert proxy.rowCount() == 10_000
    for needle, expected in (("site0999", 10), ("CORP.example", 2_000), ("alice", None),
                             ("", 10_000), ("no such thing", 0)):
        proxy.set_needle(needle)
        if expected is not None:
            assert proxy.rowCount() == expected, needle


def test_sorting_10000_sites_is_the_models_job(qtbot: Any) -> None:
    model = SiteTableModel()
    model.reset(many_sites(10_000))
    proxy = SiteFilterProxy(model)
    proxy.sort(1, Qt.SortOrder.DescendingOrder)
    signed_in = [t for t in texts(proxy, 1)]
    assert signed_in == sorted(signed_in, key=str.lower, reverse=True)


def test_events_and_helpers_models_pass_the_tester(qtmodeltester: Any) -> None:
    events = EventsModel()
    helper = {"id": "h1", "name": "Chromium on laptop", "origin": "chrome-extension://abc",
              "code": "042-917", "status": "active", "created_at": 1.0, "last_seen": None}
    items = [samples.event("example.com", account=f"u{i}", event_id=f"e{i}",
                           deliveries=[{"helper_id": "h1", "status": "failed", "attempts": 3,
                                        "last_error": "connection refused"}])
             for i in range(5, 0, -1)]
    events.set_items(items)
    qtmodeltester.check(events, force_py=True)
    events.set_helper_names({"h1": "Chromium on laptop"})
    assert events.index(0, 4).data() == "Chromium on laptop: failed (connection refused)"
    assert events.index(0, 3).data() == "Waiting for the site"
    # Newer events arrive on top, old ones fall off, one changes: row by row.
    resets: list[int] = []
    events.modelReset.connect(lambda: resets.append(1))
    newer = [samples.event("example.com", event_id="e7"), samples.event("x.org", event_id="e6"),
             {**items[0], "outcome": "confirmed"}, *items[1:3]]
    events.set_items(newer)
    assert [events.index(r, 0).data(Qt.ItemDataRole.UserRole + 2) for r in range(5)] == \
        ["e7", "e6", "e5", "e4", "e3"]
    assert events.index(2, 3).data() == "Done" and not resets
    helpers = HelpersModel()
    helpers.set_items([helper, {**helper, "id": "h2", "name": "Firefox", "last_seen": 2e9}])
    qtmodeltester.check(helpers, force_py=True)
    assert [helpers.index(0, c).data() for c in range(5)] == [
        "Chromium on laptop", "chrome-extension://abc", "042-917", "Active", "Never"]
    helpers.set_items([{**helper, "status": "revoked"}])
    assert helpers.rowCount() == 1 and helpers.index(0, 3).data() == "Revoked"


@pytest.mark.parametrize("count", [0, 1])
def test_empty_and_tiny_models(qtmodeltester: Any, count: int) -> None:
    model = SiteTableModel()
    model.reset(many_sites(count))
    qtmodeltester.check(model, force_py=True)
    assert model.index(5, 0).data() is None
    assert model.rowCount(model.index(0, 0)) == 0
    assert model.state(None) is None and model.row_of("nope") == -1
    assert model.headerData(0, Qt.Orientation.Horizontal) == "Site"
    assert not QModelIndex().isValid()


@pytest.mark.parametrize("name", ["UNSUPPORTED", "LOGIN", "SIGNED_IN", "NOBODY_ACTIVE",
                                  "PENDING_SWITCH", "NO_RESPONSE", "UNDELIVERED",
                                  "STAY_SIGNED_IN", "LOGIN_STATUS"])
def test_compact_rows_give_back_the_same_state(name: str) -> None:
    original = getattr(samples, name)
    model = SiteTableModel()
    model.reset([original])
    assert model.state("example.com") == original
    assert model.undelivered_count() == (name == "UNDELIVERED")


def test_rows_over_the_cores_records_say_what_rows_over_json_say(
        qtmodeltester: Any, tmp_path: Any) -> None:
    """The real app's rows keep the service's immutable records instead of JSON dicts:
    same states, texts, icons, tooltips, order and filtering."""
    from sessionmgr.service import SessionService
    from sessionmgr.store.repository import Store

    store = Store(tmp_path / "sites.sqlite3")
    try:
        service = SessionService(store)
        cookie = {"type": "cookie", "cookie_name": "SID"}
        service.declare("b.example", {"sessions": [
            {"email": "bear@b.example", "bound_to": cookie},
            {"email": "bob@b.example", "status": "passive"}], "cookies": ["SID"]})
        service.declare("a.example", {"sessions": None, "focused": True})
        service.declare("c.example", {"sessions": []})
        service.declare("d.example", {"sessions": [{"email": "me@d.example"}],
                                      "api": "login-status"})
        service.declare("e.example", {"sessions": [{"email": "p@e.example", "status": "passive"},
                                                   {"email": "q@e.example"}]})
        service.login("e.example", "p@e.example", True)
        service.declare("e.example", {"sessions": [{"email": "p@e.example"}]})
        service.login("b.example", "bob@b.example")  # pending switch
        records, focused, now = service.site_records()
        from sessionmgr.gui.models import record_rows

        by_record, by_json = SiteTableModel(), SiteTableModel()
        by_record.reset(record_rows(records, focused, now))
        by_json.reset(service.list_sites())
        qtmodeltester.check(by_record, force_py=True)
        assert by_record.states() == by_json.states() == service.list_sites()
        assert (by_record.state("e.example") or {})["persistent"] is not None
        roles = (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole,
                 Qt.ItemDataRole.FontRole, Qt.ItemDataRole.ForegroundRole)
        for column in range(6):
            by_record.sort(column)
            by_json.sort(column)
            for row in range(by_json.rowCount()):
                a, b = by_record.index(row, column), by_json.index(row, column)
                assert [a.data(r) for r in roles] == [b.data(r) for r in roles]
                icon_a = a.data(Qt.ItemDataRole.DecorationRole)
                icon_b = b.data(Qt.ItemDataRole.DecorationRole)
                assert (icon_a is None) == (icon_b is None)
                if icon_a is not None:
                    assert icon_a.cacheKey() == icon_b.cacheKey()
        assert by_record.signed_in() == by_json.signed_in()
        assert by_record.signed_in_accounts() == by_json.signed_in_accounts()
        proxies = SiteFilterProxy(by_record), SiteFilterProxy(by_json)
        for needle in ("bob", "sid", "e.ex", "nothing"):
            for proxy in proxies:
                proxy.set_needle(needle)
            assert proxies[0].rowCount() == proxies[1].rowCount(), needle
        assert [r.search_text() for r in by_record._rows] == \
            [r.search_text() for r in by_json._rows]
    finally:
        store.close()
