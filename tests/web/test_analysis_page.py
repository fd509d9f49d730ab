"""/analysis on hand-built exports and app states: each test failed on the page before its fix."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import DEMO_PASSWORDS, KEY, _app, _sign_in, _signed_in
from tests.builders import ev, tx
from tests.strategies import ACCOUNT, OTHER, Order, World, write_app_state, write_export
from token_analytics.appdb import AppDB
from token_analytics.engine.figures import exported_plan
from token_analytics.engine.store import Store
from token_analytics.settings import load_settings
from token_analytics.web import auth, charts, fmt, tables

NOW = datetime.fromisoformat("2026-11-29T10:00:00+08:00")


def at_(text: str) -> datetime:
    return datetime.fromisoformat(text)


def world(
    transactions: list[dict] | None = None,
    plan: str | None = "pro",
    orders: list[Order] | None = None,
    events: list[dict] | None = None,
) -> World:
    accounts = [
        {"account_id": ACCOUNT, "account_name": "Alpha", "owner_name": "Li Wei", "plan": plan, "created_at": NOW},
        {"account_id": OTHER, "account_name": "Other", "owner_name": "O", "plan": "free", "created_at": NOW},
    ]
    members = [{"user_id": "u1", "account_id": ACCOUNT, "display_name": "Alice", "email": None}]
    events = events if events is not None else [ev("e1", ACCOUNT, "u1", "agent", at_("2026-11-29T09:00:00+08:00"), 70)]
    return World(NOW, accounts, members, events, transactions or [], orders=orders or [])


@pytest.fixture
def open_analysis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_auth_file: Path):  # noqa: ANN201 - a factory
    """Write `world`, point the app at it and sign in as `role` (the demo users belong to acct-001)."""

    def start(given: World, role: str = "manager", mode: str = "saas", locale: str | None = None) -> AppTest:
        write_export(given, tmp_path / "export")
        write_app_state(given, tmp_path / "app.duckdb")
        for name, value in {
            "ANALYTICS_DATA_DIR": str(tmp_path / "export"),
            "ANALYTICS_APP_DB": str(tmp_path / "app.duckdb"),
            "ANALYTICS_NOW": given.now.isoformat(),
            "ANALYTICS_TIMEZONE": "Asia/Shanghai",
            "ANALYTICS_MODE": mode,
            "ANALYTICS_COOKIE_KEY": KEY,
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("ANALYTICS_AUTH_FILE", str(demo_auth_file))
        monkeypatch.delenv("ANALYTICS_CACHE_DB", raising=False)
        monkeypatch.setattr(auth, "_request_cookie", lambda name: None)
        if locale is None:
            at = _signed_in(role)
        else:  # a browser in this language: the first visit follows it
            at = _app()
            at.context["locale"] = locale
            at = _sign_in(at, role, DEMO_PASSWORDS[role])
            at.run()
        assert not at.error, [e.value for e in at.error]
        return at

    return start


def table(at: AppTest, first_column: str, value: str):  # noqa: ANN201 - a DataFrame
    """The main-area dataframe whose `first_column` holds `value`."""
    frames = [f.value for f in at.main.dataframe]
    return next(f for f in frames if first_column in f and value in f[first_column].tolist())


MIXED = [
    tx("x1", ACCOUNT, "BONUS", 1000, at_("2026-11-01T08:00:00+08:00"), None, "Sign-up"),
    tx("x2", ACCOUNT, "RECHARGE", 500, at_("2026-11-02T08:00:00+08:00"), "ALIPAY", None),
    tx("x3", ACCOUNT, "CONSUME", -200, at_("2026-11-03T08:00:00+08:00"), None, None, "u1"),
    tx("x4", ACCOUNT, "RECHARGE", 300, at_("2026-11-04T08:00:00+08:00"), "BANK_TRANSFER", "Wire"),
    tx("x5", ACCOUNT, "RECHARGE", 10, at_("2026-11-05T08:00:00+08:00"), "PAYPAL", None),  # a code we do not know
]


def test_recent_transactions_mixing_methods_read_their_labels(open_analysis) -> None:  # noqa: ANN001
    """A missing method never becomes the key 'method.nan': entries with and without one, and a WeChat Pay order."""
    paid = Order("recharge", "WECHAT", "PAID", 100_000, None, days_ago=0)
    at = open_analysis(world(MIXED, orders=[paid]))
    recent = table(at, "type", "Bonus")
    assert recent["type"].tolist() == ["Recharge", "Recharge", "Recharge", "Consume", "Recharge", "Bonus"]
    assert recent["payment_method"].tolist() == ["WeChat Pay", "PAYPAL", "Bank transfer", "—", "Alipay", "—"]
    assert recent["amount"].tolist() == [100_000, 10, 300, -200, 500, 1000]
    assert recent["description"].tolist()[2:] == ["Wire", "", "", "Sign-up"]


def test_leaderboard_usage_without_a_member_reads_a_dash(open_analysis) -> None:  # noqa: ANN001
    events = [
        ev("e1", ACCOUNT, "u1", "agent", at_("2026-11-29T09:00:00+08:00"), 70),
        ev("e2", ACCOUNT, None, "operator", at_("2026-11-03T09:00:00+08:00"), 30),
    ]
    at = open_analysis(world(MIXED, events=events))
    board = table(at, "display_name", "Alice")
    assert board["display_name"].tolist() == ["Alice", "—"]
    assert board["tokens"].tolist() == [70, 30]


def test_every_section_names_its_period_and_zone(open_analysis) -> None:  # noqa: ANN001
    at = open_analysis(world(MIXED))
    captions = [c.value for c in at.main.caption]
    assert "All time: every ledger entry of the account." in captions  # token usage
    today, yesterday = fmt.day(date(2026, 11, 29)), fmt.day(date(2026, 11, 28))
    november, october = fmt.month(date(2026, 11, 1)), fmt.month(date(2026, 10, 1))
    assert (
        f"Today ({today}) vs yesterday ({yesterday}); {november} vs {october}; days and months in "
        "Asia/Shanghai." in captions
    )
    assert f"This month: {november}, days in Asia/Shanghai." in captions  # service details
    assert "The 10 latest ledger entries, all time; times in Asia/Shanghai." in captions
    assert f"Top 10 members this month: {november}, days in Asia/Shanghai." in captions
    # the cards: balance 1,610 and calls 1 over all time, 70 tokens today and this month
    assert "1,610 tokens · all time" in captions
    assert f"70 tokens · today, {fmt.day(date(2026, 11, 29))} (Asia/Shanghai)" in captions
    assert f"70 tokens · this month, {fmt.month(date(2026, 11, 1))} (Asia/Shanghai)" in captions
    assert "1 calls · all time" in captions


def test_card_help_says_what_it_counts_never_the_number(open_analysis) -> None:  # noqa: ANN001
    big = [tx("b1", ACCOUNT, "BONUS", 7_612_345, at_("2026-11-01T08:00:00+08:00"))]
    at = open_analysis(world(big))
    helps = {m.label: m.help for m in at.main.metric}
    assert "all time" in helps["Token Balance"] and "minus everything consumed" in helps["Token Balance"]
    assert f"today ({fmt.day(date(2026, 11, 29))}, from local midnight in Asia/Shanghai)" in helps["Today's Usage"]
    assert f"this month ({fmt.month(date(2026, 11, 1))}, from the 1st in Asia/Shanghai)" in helps["Monthly Usage"]
    assert "yesterday up to the same time" in helps["Today's Usage"]
    assert "the same span of last month" in helps["Monthly Usage"]
    assert "all time" in helps["Service Usage"]
    for label, value in (("Token Balance", 7_612_345), ("Today's Usage", 70), ("Monthly Usage", 70)):
        assert fmt.tokens(value) not in helps[label] and fmt.compact(value) not in helps[label], label


@pytest.mark.parametrize(
    ("role", "advice"),
    [("manager", "Recharge tokens to bring it above zero."), ("analyst", "Ask a manager of the account")],
)
def test_an_overdrawn_account_is_warned_with_what_to_do(open_analysis, role: str, advice: str) -> None:  # noqa: ANN001
    overdrawn = [
        tx("o1", ACCOUNT, "BONUS", 100, at_("2026-11-01T08:00:00+08:00")),
        tx("o2", ACCOUNT, "CONSUME", -250, at_("2026-11-02T08:00:00+08:00"), user_id="u1"),
    ]
    at = open_analysis(world(overdrawn), role=role)
    warnings = [w.value for w in at.main.warning]
    assert any(w.startswith("This account is overdrawn: its balance is -150 tokens.") and advice in w for w in warnings)
    assert "250 of 100 tokens used" in [m.value for m in at.main.markdown]


def test_a_balance_of_zero_is_not_overdrawn(open_analysis) -> None:  # noqa: ANN001
    even = [
        tx("z1", ACCOUNT, "BONUS", 100, at_("2026-11-01T08:00:00+08:00")),
        tx("z2", ACCOUNT, "CONSUME", -100, at_("2026-11-02T08:00:00+08:00"), user_id="u1"),
    ]
    at = open_analysis(world(even))
    assert not [w.value for w in at.main.warning if "overdrawn" in w.value]


@pytest.mark.parametrize(
    ("exported", "orders", "shown", "offered"),
    [
        ("free", [], "Free", {"Upgrade to Pro"}),
        ("pro", [], "Pro", {"Contact for Enterprise"}),
        ("enterprise", [], "Enterprise", set()),
        (None, [], "Free", {"Upgrade to Pro"}),
        ("gold", [], "Free", {"Upgrade to Pro"}),  # an unknown exported plan reads as Free
        ("free", [Order("plan", "ALIPAY", "PAID", 1, "pro", 1)], "Pro", {"Contact for Enterprise"}),
        ("free", [Order("plan", "ALIPAY", "PENDING", 1, "pro", 1)], "Free", {"Upgrade to Pro"}),
    ],
)
def test_the_plan_offer_fits_the_current_plan(
    open_analysis,  # noqa: ANN001
    exported: str | None,
    orders: list[Order],
    shown: str,
    offered: set[str],
) -> None:
    at = open_analysis(world(MIXED, plan=exported, orders=orders))
    assert f"Current plan: {shown}" in [m.value for m in at.main.markdown]
    labels = {b.label for b in at.main.button}
    assert labels & {"Upgrade to Pro", "Contact for Enterprise"} == offered
    if offered:
        next(b for b in at.main.button if b.label in offered).click().run()
        assert at.title[0].value == "Subscription"


def test_an_analyst_sees_the_plan_but_is_offered_nothing(open_analysis) -> None:  # noqa: ANN001
    at = open_analysis(world(MIXED, plan="free"), role="analyst")
    assert "Current plan: Free" in [m.value for m in at.main.markdown]
    assert not {b.label for b in at.main.button} & {"Upgrade to Pro", "Contact for Enterprise", "Recharge Tokens"}


def test_markdown_looking_owner_names_show_as_typed(open_analysis) -> None:  # noqa: ANN001
    given = world(MIXED)
    given.accounts[0]["owner_name"] = "![x](http://127.0.0.1:9/x.png) <b>"
    at = open_analysis(given)
    owner = next(c.value for c in at.main.caption if str(c.value).startswith("Owner: "))
    assert owner == "Owner: " + fmt.plain("![x](http://127.0.0.1:9/x.png) <b>")
    assert "\\!\\[x\\]\\(" in owner and "\\<b\\>" in owner  # escaped: no image, no tag


def test_current_plan_is_the_exported_plan_unless_a_paid_plan_order_overrides(tmp_path: Path) -> None:
    write_export(world([], plan="pro"), tmp_path / "export")
    app_db = tmp_path / "app.duckdb"
    settings = load_settings({"ANALYTICS_DATA_DIR": str(tmp_path / "export"), "ANALYTICS_APP_DB": str(app_db)})
    store = Store.open(settings)
    try:
        app = AppDB(store.cursor())
        assert app.current_plan(ACCOUNT, exported_plan(store, ACCOUNT)) == "pro"
        assert app.current_plan(OTHER, exported_plan(store, OTHER)) == "free"
        assert app.current_plan("acct-missing", exported_plan(store, "acct-missing")) == "free"  # not in accounts/
        order = app.create_order(OTHER, "manager", "plan", 1, 100, "WECHAT", plan="enterprise", now=NOW)
        assert app.current_plan(OTHER, exported_plan(store, OTHER)) == "free"  # pending: not yet
        app.mark_paid(order.order_id, "manager", now=NOW)
        assert app.current_plan(OTHER, exported_plan(store, OTHER)) == "enterprise"
    finally:
        store.close()


# Like for like (SPEC §9) on 29 Nov 10:00: today so far 70 + 5 (e1, e2; e3 is after now), yesterday up to 10:00 is
# 50 (y1; y2 is after 10:00), all of yesterday 250. This month 475 today + 250 yesterday + 1000 on 2 Nov = 1,725, so far
# 1,325; the same span of October (1 Oct - 29 Oct 10:00) 600 (o1), all of October 600 + 9000 (o2 on 30 Oct).
LIKE_FOR_LIKE = [
    ev("e1", ACCOUNT, "u1", "agent", at_("2026-11-29T09:00:00+08:00"), 70),
    ev("e2", ACCOUNT, "u1", "agent", at_("2026-11-29T09:59:00+08:00"), 5),
    ev("e3", ACCOUNT, "u1", "agent", at_("2026-11-29T18:00:00+08:00"), 400),
    ev("y1", ACCOUNT, "u1", "agent", at_("2026-11-28T08:00:00+08:00"), 50),
    ev("y2", ACCOUNT, "u1", "agent", at_("2026-11-28T15:00:00+08:00"), 200),
    ev("n1", ACCOUNT, "u1", "agent", at_("2026-11-02T08:00:00+08:00"), 1000),
    ev("o1", ACCOUNT, "u1", "operator", at_("2026-10-03T08:00:00+08:00"), 600),
    ev("o2", ACCOUNT, "u1", "operator", at_("2026-10-30T08:00:00+08:00"), 9000),
]


def test_the_cards_compare_like_for_like_and_say_with_what(open_analysis) -> None:  # noqa: ANN001
    at = open_analysis(world(MIXED, events=LIKE_FOR_LIKE))
    shown = {m.label: m for m in at.main.metric}
    # today 475 (every event of the day) with the arrow of today so far: 75 vs 50 -> +50.0% (not 475 vs 250)
    assert shown["Today's Usage"].value == "475"
    assert shown["Today's Usage"].delta == "+50.0%"
    # this month 1,725 with the arrow of month to date: 1,325 vs 600 -> +120.8% (not against all of October, 9,600)
    assert shown["Monthly Usage"].value == "1.7K"
    assert shown["Monthly Usage"].delta == "+120.8%"
    captions = [c.value for c in at.main.caption]
    assert "vs yesterday to 10:00: 50 tokens" in captions
    assert "All of yesterday: 250" in captions
    span = fmt.day_span(date(2026, 10, 1), date(2026, 10, 29))
    assert f"vs {span} to 10:00, same span: 600 tokens" in captions
    assert "All of last month: 9.6K" in captions


def chart_rows(spec: dict) -> list[dict]:
    """The bars a chart spec draws: the values of its (first) layer."""
    return spec["layer"][0]["data"]["values"]


def chart_title(spec: dict) -> str:
    text = spec.get("title", {}).get("text", "")
    return " ".join(text) if isinstance(text, list) else text


def test_the_comparison_charts_mark_the_partial_bars(open_analysis) -> None:  # noqa: ANN001
    at = open_analysis(world(MIXED, events=LIKE_FOR_LIKE))
    specs = [json.loads(c.proto.spec) for c in at.main.get("vega_lite_chart")]
    pairs = [spec for spec in specs if chart_title(spec).startswith(("Today vs", "This Month"))]
    assert len(pairs) == 4
    for spec in pairs:
        current, previous = chart_rows(spec)
        assert (current["partial"], previous["partial"]) == (True, False)  # the current bar only
        assert current["opacity"] == charts.PARTIAL_OPACITY and previous["opacity"] == 1.0
        hatched = spec["layer"][0]["layer"][1]
        assert hatched["transform"] == [{"filter": "datum.partial"}] and hatched["mark"]["color"]["gradient"]
        assert "(so far)" in current["hover"] and "(so far)" not in previous["hover"]
    assert any(
        c.value.startswith("Hatched, lighter bars are partial: today so far (to 10:00)") for c in at.main.caption
    )


def test_sparklines_are_labelled_and_coloured_by_their_metric(open_analysis) -> None:  # noqa: ANN001
    # today's 75 so far against yesterday's 50: a rise; a fall (below) must not turn the sparkline red
    falling = [*LIKE_FOR_LIKE, ev("y3", ACCOUNT, "u1", "agent", at_("2026-11-28T09:00:00+08:00"), 5000)]
    at = open_analysis(world(MIXED, events=falling))
    assert {m.label: m.delta for m in at.main.metric}["Today's Usage"].startswith("-")
    sparks = [
        spec
        for spec in (json.loads(c.proto.spec) for c in at.main.get("vega_lite_chart"))
        if spec["height"] == charts.SPARK_HEIGHT
    ]
    assert len(sparks) == 3
    colours = [spark["layer"][0]["mark"]["color"] for spark in sparks]
    assert colours == [charts.METRIC_COLOURS["tokens"], charts.METRIC_COLOURS["tokens"], charts.METRIC_COLOURS["calls"]]
    today, month, calls = ([row["value"] for row in chart_rows(spark)] for spark in sparks)
    assert len(today) == 30 and today[-1] == 475 and today[-2] == 5250  # each card its own series
    assert len(month) == 12 and month[-2:] == [9600, 6725]
    assert len(calls) == 30 and calls[-1] == 3
    assert [row["opacity"] for row in chart_rows(sparks[0])][-2:] == [1.0, 0.45]  # today so far is lighter
    captions = [c.value for c in at.main.caption]
    for caption in (
        "Last 30 days, daily (last bar: today so far)",
        "Last 12 months, monthly (last bar: this month so far)",
        "Calls, last 30 days, daily (last bar: today so far)",
    ):
        assert caption in captions


def test_one_data_health_warning_with_one_count(open_analysis) -> None:  # noqa: ANN001
    given = world(
        [*MIXED, tx("bad-t", ACCOUNT, "CONSUME", None, at_("2026-11-03T08:00:00+08:00"))],
        events=[*LIKE_FOR_LIKE, ev("bad-e", ACCOUNT, "u1", "agent", at_("2026-11-03T08:00:00+08:00"), None)],
    )
    at = open_analysis(given)
    warnings = [w.value for w in at.main.warning if "quarantined" in w.value]
    assert warnings == ["2 rows and 0 files were quarantined; figures may be incomplete. See data health."]


def test_the_cards_have_their_own_heading_and_why_it_changed_its_own_panel(open_analysis) -> None:  # noqa: ANN001
    at = open_analysis(world(MIXED, events=LIKE_FOR_LIKE))
    headings = [h.value for h in at.main.subheader]
    assert headings[headings.index("Plan") + 1] == "Overview"
    card_columns = [c for c in at.main.columns if c.metric]
    assert len(card_columns) == 4
    assert not any("Why it changed" in m.value for column in card_columns for m in column.markdown)
    assert any("Why it changed" in m.value for m in at.main.markdown)


def test_the_service_card_names_its_unit(open_analysis) -> None:  # noqa: ANN001
    at = open_analysis(world(MIXED, events=LIKE_FOR_LIKE))
    assert {m.label: m.value for m in at.main.metric}["Service Usage"] == "8 calls"


def test_an_overdrawn_account_draws_the_bar_in_the_warning_colour(open_analysis) -> None:  # noqa: ANN001
    overdrawn = [
        tx("o1", ACCOUNT, "BONUS", 100, at_("2026-11-01T08:00:00+08:00")),
        tx("o2", ACCOUNT, "CONSUME", -141, at_("2026-11-02T08:00:00+08:00"), user_id="u1"),
    ]
    at = open_analysis(world(overdrawn))
    assert at.main.progress[0].proto.text == ":red[**141.0% used**]"
    assert any("#dc2626" in h.proto.body and "analysis_usage_overdrawn" in h.proto.body for h in at.html)
    markdown = [m.value for m in at.main.markdown]
    assert ":red[**Balance: -41 tokens**]" in markdown
    assert ":red[**Overdrawn by 41 tokens**]" in markdown  # on the balance card


def test_a_healthy_account_draws_the_normal_bar(open_analysis) -> None:  # noqa: ANN001
    at = open_analysis(world(MIXED))
    assert at.main.progress[0].proto.text == "11.0% used"  # 200 of 1,810
    assert not [h for h in at.html if "analysis_usage_overdrawn" in h.proto.body]
    assert "Balance: 1,610 tokens" in [m.value for m in at.main.markdown]


def test_recent_transactions_say_the_unit_and_keep_long_descriptions_whole(open_analysis) -> None:  # noqa: ANN001
    long = "Recharge by bank transfer for the quarterly budget (order 20261206-6SX7Q2, reference TAC-000123)"
    at = open_analysis(world([*MIXED, tx("x9", ACCOUNT, "RECHARGE", 50, at_("2026-11-06T08:00:00+08:00"), None, long)]))
    recent = next(f for f in at.main.dataframe if "description" in f.value and long in f.value["description"].tolist())
    config = json.loads(recent.proto.columns)
    assert config["amount"]["label"] == "Amount (tokens)"
    assert config["description"]["width"] >= tables.text_px(long)


def test_chinese_charts_write_numbers_in_wan_and_yi(open_analysis) -> None:  # noqa: ANN001
    """Numbers on the charts, their hover and the cards follow the session's language: 万 and 亿, not "2M"."""
    events = [
        ev("b1", ACCOUNT, "u1", "agent", at_("2026-11-29T09:00:00+08:00"), 123_456_789),
        ev("b2", ACCOUNT, "u1", "operator", at_("2026-11-28T09:00:00+08:00"), 45_678),
    ]
    at = open_analysis(world(MIXED, events=events), locale="zh-CN")
    assert at.title[0].value == "分析中心"
    rows = [row for c in at.main.get("vega_lite_chart") for row in chart_rows(json.loads(c.proto.spec))]
    texts = [row["text"] for row in rows if "text" in row]
    hovers = [row["hover"] for row in rows]
    assert "1.2亿" in texts and "4.6万" in texts
    assert not [text for text in texts if text.endswith(("K", "M", "B"))]
    assert "今日（截至目前）：123,456,789 个 Token" in hovers
    assert {m.label: m.value for m in at.main.metric}["今日用量"] == "1.2亿"
    assert "对比昨日截至 10:00：45,678 个 Token" in [c.value for c in at.main.caption]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # 31 March: February is shorter, so the month's arrow compares with all of it (SPEC §8 clipping)
        ("2026-03-31T10:00:00+08:00", "vs all of last month (shorter): 5 tokens"),
        # the first instant of a month: no span of last month yet
        ("2026-03-01T00:00:00+08:00", "vs the same span of last month: none yet"),
        # midnight after the 6th: whole days, no time
        ("2026-03-07T00:00:00+08:00", "vs {span}, same span: 5 tokens"),
    ],
)
def test_the_month_card_says_which_span_of_last_month_it_compares_with(
    open_analysis,  # noqa: ANN001
    now: str,
    expected: str,
) -> None:
    events = [ev("f1", ACCOUNT, "u1", "agent", at_("2026-02-03T08:00:00+08:00"), 5)]
    given = replace(world(MIXED, events=events), now=at_(now))
    at = open_analysis(given)
    span = fmt.day_span(date(2026, 2, 1), date(2026, 2, 6))
    assert expected.format(span=span) in [c.value for c in at.main.caption]
