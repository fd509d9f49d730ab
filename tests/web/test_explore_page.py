"""/explore in-process (AppTest): every control, both modes, each role, and forged query parameters."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests import vega
from tests.apptest import _signed_in
from tests.builders import SAMPLE_NOW
from tests.web.test_markup import HOSTILE, hostile_dir, hostile_env  # noqa: F401 (fixtures)
from token_analytics.engine import explore as ex
from token_analytics.engine.store import Store
from token_analytics.settings import load_settings
from token_analytics.web import fmt
from token_analytics.web.i18n import t

NOW = datetime.fromisoformat(SAMPLE_NOW).astimezone(ZoneInfo("Asia/Shanghai"))  # 29 Nov 2026 10:00
TODAY = NOW.date()


@pytest.fixture(scope="module")
def engine(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The engine on its own copy of the cache: the page must show exactly its figures."""
    tmp = tmp_path_factory.mktemp("engine")
    store = Store.open(load_settings({"ANALYTICS_DATA_DIR": str(sample_dir), "ANALYTICS_APP_DB": str(tmp / "a.db")}))
    yield store
    store.close()


def explore_page(username: str, params: dict[str, str | list[str]] | None = None) -> AppTest:
    at = _signed_in(username)
    for name, value in (params or {}).items():
        at.query_params[name] = value
    at.switch_page("app_pages/explore.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Explore"
    return at


def shown_table(at: AppTest) -> list[tuple[str, int, int]]:
    """(key, value, previous) of each row of the group table, Other with key ""."""
    frame = at.dataframe[0].value
    return list(zip(frame["key"], frame["value"].astype(int), frame["previous"].astype(int), strict=True))


def engine_table(store: Store, account: str, view: ex.View) -> list[tuple[str, int, int]]:
    result = ex.explore(store, account, view, NOW)
    return [("" if r.is_other else r.key, int(r.value), int(r.previous)) for r in result.table.itertuples(index=False)]


def chart(at: AppTest, index: int = 0) -> vega.Spec:
    """The spec of the page's `index`-th chart (0: the view's chart; 1, 2: a member's by service and by model)."""
    return vega.spec_of(at.main.get("vega_lite_chart")[index])


def url(at: AppTest) -> dict[str, list[str]]:
    """The page's query parameters as the browser's URL would hold them (AppTest keeps a plain dict)."""
    return {name: list(v) if isinstance(v, (list, tuple)) else [v] for name, v in at.query_params.items()}


def test_default_view_is_the_engines(app_env: pytest.MonkeyPatch, engine: Store) -> None:
    at = explore_page("analyst")
    assert shown_table(at) == engine_table(engine, "acct-001", ex.DEFAULT_VIEW)
    assert url(at) == {
        "period": ["last_30_days"],
        "granularity": ["day"],
        "metric": ["tokens"],
        "group": ["service"],
        "top": ["10"],
    }
    assert [s.value for s in at.subheader if s.value == "Rankings"] == ["Rankings"]  # analysts too


def test_every_control_changes_the_figures_and_the_url(app_env: pytest.MonkeyPatch, engine: Store) -> None:
    at = explore_page("analyst")
    at.selectbox(key="explore_period").set_value("last_month").run()
    at.selectbox(key="explore_group").set_value("member").run()
    at.selectbox(key="explore_top").set_value(5).run()
    view = ex.View(period="last_month", group="member", top=5)
    rows = shown_table(at)
    assert rows == engine_table(engine, "acct-001", view)
    assert len(rows) == 6 and rows[-1][0] == ""  # top 5 and Other
    assert sum(r[1] for r in rows) == ex.explore(engine, "acct-001", view, TODAY).total

    at.selectbox(key="explore_metric").set_value("calls").run()
    at.selectbox(key="explore_granularity").set_value("week").run()
    at.multiselect(key="explore_services").select("agent").run()
    view = ex.View(period="last_month", granularity="week", metric="calls", group="member", top=5, services=("agent",))
    assert shown_table(at) == engine_table(engine, "acct-001", view)
    assert url(at)["service"] == ["agent"] and url(at)["metric"] == ["calls"] and url(at)["granularity"] == ["week"]

    at.selectbox(key="explore_group").set_value("model").run()
    model = at.dataframe[0].value["key"].iloc[0]
    at.multiselect(key="explore_models").select(model).run()
    at.multiselect(key="explore_members").select("user-001-01").run()
    view = ex.View(
        period="last_month",
        granularity="week",
        metric="calls",
        group="model",
        top=5,
        services=("agent",),
        members=("user-001-01",),
        models=(model,),
    )
    assert shown_table(at) == engine_table(engine, "acct-001", view)

    # hour buckets only for short periods: the option disappears for a month
    at.selectbox(key="explore_period").set_value("today").run()
    at.selectbox(key="explore_granularity").set_value("hour").run()
    assert url(at)["granularity"] == ["hour"]
    at.selectbox(key="explore_period").set_value("this_year").run()
    assert at.selectbox(key="explore_granularity").value == "day"
    assert "hour" not in at.selectbox(key="explore_granularity").options
    assert any("up to 14 days" in i.value for i in at.info)

    at.selectbox(key="explore_period").set_value("custom").run()
    at.date_input(key="explore_custom").set_value((date(2026, 11, 2), date(2026, 11, 8))).run()
    assert url(at)["start"] == ["2026-11-02"] and url(at)["end"] == ["2026-11-08"]
    at.multiselect(key="explore_services").unselect("agent").run()
    at.multiselect(key="explore_members").unselect("user-001-01").run()
    at.multiselect(key="explore_models").unselect(model).run()
    at.selectbox(key="explore_metric").set_value("input_tokens").run()
    view = ex.View(
        period="custom", start=date(2026, 11, 2), end=date(2026, 11, 8), metric="input_tokens", group="model", top=5
    )
    assert shown_table(at) == engine_table(engine, "acct-001", view)
    assert not at.exception


def test_a_link_shows_the_same_view(app_env: pytest.MonkeyPatch, engine: Store) -> None:
    params = {"period": "last_month", "group": "member", "top": "20", "metric": "calls", "granularity": "week"}
    at = explore_page("manager", params)
    assert at.selectbox(key="explore_period").value == "last_month"
    assert at.selectbox(key="explore_group").value == "member"
    view = ex.View(period="last_month", group="member", top=20, metric="calls", granularity="week")
    assert shown_table(at) == engine_table(engine, "acct-001", view)
    assert not at.info  # nothing was refused


@pytest.mark.parametrize(
    ("params", "notice"),
    [
        ({"group": "user_id; drop table usage_daily --"}, "unknown grouping"),
        ({"metric": "tokens) from accounts --"}, "unknown metric"),
        ({"period": "custom", "start": "2026-11-09", "end": "2026-11-01"}, "custom days"),
        ({"member": ["user-002-01", "' or 1=1 --"]}, "member this account has no usage of"),
    ],
)
def test_forged_query_params_change_nothing_they_should_not(
    app_env: pytest.MonkeyPatch, engine: Store, params: dict[str, str | list[str]], notice: str
) -> None:
    at = explore_page("analyst", {**params, "account": "acct-002"})
    assert any(notice in i.value for i in at.info)
    assert shown_table(at) == engine_table(engine, "acct-001", ex.DEFAULT_VIEW)  # own account, default view
    # the foreign account in the link is replaced by the analyst's own, with a notice
    assert url(at)["account"] == ["acct-001"] and "member" not in url(at)
    assert any(i.value.startswith("There is no account acct") and "002" in i.value for i in at.info)
    assert not at.exception


def test_member_drill_down_and_csv(app_env: pytest.MonkeyPatch, engine: Store) -> None:
    at = explore_page("analyst", {"period": "last_month", "group": "member"})
    assert any("Select a member" in c.value for c in at.caption)
    # AppTest cannot click a dataframe row: set the selection state the widget would send
    table_key = "explore_table_member"
    at.session_state[table_key] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    member = at.dataframe[0].value["key"].iloc[0]
    name = at.dataframe[0].value["group"].iloc[0]
    assert [s.value for s in at.subheader if "by service and by model" in s.value] == [
        f"{name} by service and by model"
    ]
    drill = ex.explore(engine, "acct-001", ex.View(period="last_month", group="service", members=(member,)), NOW)
    assert drill.total == at.dataframe[0].value["value"].iloc[0]
    # the member's two charts: by service and by model, each bar the engine's figure for that member
    for index, dimension in ((1, "service"), (2, "model")):
        view = ex.View(period="last_month", group=dimension, members=(member,), top=20)
        result = ex.explore(engine, "acct-001", view, NOW)
        spec = chart(at, index)
        assert vega.title(spec).startswith(f"Tokens by {dimension}, ")
        drawn = vega.series(spec)
        assert sum(map(sum, drawn.values())) == result.total == drill.total
        for key, label in result.labels.items():
            name = f"service.{key}" if dimension == "service" else str(label)
            shown = drawn[t(name) if dimension == "service" else name]
            rows = result.series[~result.series["is_other"] & (result.series["key"] == key)]
            assert sum(shown) == int(rows["value"].sum())
    csv = ex.explore_csv(ex.explore(engine, "acct-001", ex.View(period="last_month", group="member"), NOW))
    assert csv.decode().splitlines()[0] == "\ufeffgroup,key,tokens,share_pct,previous,change,change_pct"


def test_managers_see_rankings(app_env: pytest.MonkeyPatch, engine: Store) -> None:
    at = explore_page("manager")
    assert [s.value for s in at.subheader if s.value == "Rankings"] == ["Rankings"]
    ranks = ex.rankings(engine, "acct-001", *ex.periods_for("this_month", NOW))
    shown = next(d.value for d in at.dataframe if "display_name" in d.value)
    assert shown["user_id"].tolist() == ranks["user_id"].tolist()
    assert shown["tokens"].tolist() == ranks["tokens"].tolist()
    at.selectbox(key="explore_rank_period").set_value("last_month").run()
    ranks = ex.rankings(engine, "acct-001", *ex.periods_for("last_month", NOW))
    shown = next(d.value for d in at.dataframe if "display_name" in d.value)
    assert shown["rank"].tolist() == ranks["rank"].tolist()
    expected = [
        "new" if n else ("=" if c == 0 else f"▲{c}" if c > 0 else f"▼{-c}")
        for c, n in zip(ranks["rank_change"], ranks["is_new"], strict=True)
    ]
    assert shown["change"].tolist() == expected


def test_admin_switches_account_and_foreign_filters_drop(app_env: pytest.MonkeyPatch, engine: Store) -> None:
    at = explore_page("admin", {"group": "member"})
    at.multiselect(key="explore_members").select("user-001-01").run()
    at.sidebar.selectbox(key="nav_account").set_value("acct-002").run()
    assert not at.exception
    assert at.multiselect(key="explore_members").value == []
    assert shown_table(at) == engine_table(engine, "acct-002", ex.View(group="member"))


def test_manager2_sees_only_acct_002(app_env: pytest.MonkeyPatch, engine: Store) -> None:
    at = explore_page("manager2", {"group": "member", "member": "user-001-01", "account": "acct-001"})
    assert shown_table(at) == engine_table(engine, "acct-002", ex.View(group="member"))
    assert all(key.startswith("user-002") or key == "" for key, _, _ in shown_table(at))


@pytest.mark.parametrize("username", ["admin", "analyst"])
def test_self_hosted_explore(app_env: pytest.MonkeyPatch, engine: Store, username: str) -> None:
    app_env.setenv("ANALYTICS_MODE", "self-hosted")
    at = explore_page(username, {"group": "member"})
    assert shown_table(at) == engine_table(engine, "acct-001", ex.View(group="member"))


def test_data_text_shown_through_markdown_is_inert() -> None:
    """A member name that is Markdown (an image, a link, emphasis) is shown as its characters."""
    from token_analytics.web.explore_ui import plain

    hostile = "![x](http://evil.example/x.png) *bold* [link](javascript:alert(1)) <b>"
    escaped = plain(hostile)
    assert "](" not in escaped and "*bold*" not in escaped and "<b>" not in escaped
    assert escaped.replace("\\", "").replace("\u2060", "") == hostile  # only escapes and word joiners added


def test_analysis_shows_runway_why_it_changed_and_sparklines(app_env: pytest.MonkeyPatch, engine: Store) -> None:
    import json
    from datetime import timedelta

    from token_analytics.engine.figures import analysis_figures
    from token_analytics.web import charts, fmt

    figures = analysis_figures(engine, "acct-001", datetime.fromisoformat(SAMPLE_NOW), "saas").to_json()
    at = _signed_in("manager")
    captions = [c.value for c in at.caption]
    runway = figures["runway"]
    assert runway["status_7d"] == "ok"  # the sample's acct-001 has a positive balance and consumption
    assert any(f"about {fmt.tokens(runway['days_left_7d'])} days" in c for c in captions)
    mtd = figures["month_to_date"]
    summary = next(m.value for m in at.markdown if m.value.startswith("This month so far"))
    assert f"**{fmt.tokens(mtd['tokens'])}**" in summary and f"**{fmt.tokens(mtd['previous'])}**" in summary
    top_member = mtd["contributors"]["member"][0]
    assert any(c.startswith("Largest contributors by member:") and "from" in c for c in captions)
    assert top_member["change"] != 0
    spark = ex.daily_tokens(engine, "acct-001", TODAY - timedelta(days=29), TODAY)
    # the Today card's sparkline is the first small chart (coloured by the metric, not by the delta's sign)
    sparks = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    today_spark = next(spec for spec in sparks if spec["height"] == charts.SPARK_HEIGHT)
    drawn = [row["value"] for row in today_spark["layer"][0]["data"]["values"]]
    assert drawn == spark and len(spark) == 30 and spark[-1] == figures["cards"]["today"]["tokens"]


def test_self_hosted_analysis_has_none_of_it(app_env: pytest.MonkeyPatch) -> None:
    app_env.setenv("ANALYTICS_MODE", "self-hosted")
    at = _signed_in("analyst")
    assert not [m for m in at.markdown if m.value.startswith("This month so far")]
    assert not [c for c in at.caption if "Balance runway" in c.value]


@pytest.mark.parametrize(
    ("start", "end"), [("0001-01-01", "0001-01-05"), ("9999-12-25", "9999-12-31"), ("0001-01-01", "9999-12-31")]
)
def test_dates_at_the_calendars_edge_get_the_pages_own_notice(
    app_env: pytest.MonkeyPatch, engine: Store, start: str, end: str
) -> None:
    at = explore_page("analyst", {"period": "custom", "start": start, "end": end})
    assert not at.exception and not at.error
    assert any("not valid dates" in i.value for i in at.info)
    assert shown_table(at) == engine_table(engine, "acct-001", ex.DEFAULT_VIEW)


def test_a_forged_heavy_link_is_drawn_coarser_with_a_notice(app_env: pytest.MonkeyPatch, engine: Store) -> None:
    """Ten years by day and member: more than MAX_BUCKETS bars, so weeks are refused too and months are drawn."""
    params = {"period": "custom", "start": "2016-11-30", "end": "2026-11-29", "granularity": "day", "group": "member"}
    at = explore_page("analyst", params)
    assert any("at most 370 bars" in i.value for i in at.info)
    assert at.selectbox(key="explore_granularity").value == "month"
    assert at.selectbox(key="explore_granularity").options == ["Month"]
    assert url(at)["granularity"] == ["month"]
    assert len(vega.axis(chart(at))) == 121  # Nov 2016 to Nov 2026: 121 months, no more
    view = ex.View(
        period="custom", start=date(2016, 11, 30), end=date(2026, 11, 29), granularity="month", group="member"
    )
    assert shown_table(at) == engine_table(engine, "acct-001", view)


def test_admins_account_stays_in_the_url(app_env: pytest.MonkeyPatch, engine: Store) -> None:
    at = explore_page("admin", {"period": "last_week", "group": "member"})
    at.sidebar.selectbox(key="nav_account").set_value("acct-003").run()
    assert url(at)["account"] == ["acct-003"] and url(at)["period"] == ["last_week"]
    assert shown_table(at) == engine_table(engine, "acct-003", ex.View(period="last_week", group="member"))
    at.selectbox(key="explore_metric").set_value("calls").run()
    assert url(at)["account"] == ["acct-003"] and url(at)["metric"] == ["calls"]


def test_manager2s_foreign_account_is_corrected_in_the_url(app_env: pytest.MonkeyPatch) -> None:
    at = explore_page("manager2", {"account": "acct-001"})
    assert url(at)["account"] == ["acct-002"]
    assert any(i.value.startswith("There is no account acct") for i in at.info)


def test_table_sorts_by_change_and_every_row_is_visible(app_env: pytest.MonkeyPatch, engine: Store) -> None:
    at = explore_page("analyst", {"period": "last_week", "group": "member", "sort": "change", "top": "20"})
    frame = at.dataframe[0].value
    result = ex.explore(engine, "acct-001", ex.View(period="last_week", group="member", top=20), NOW)
    named = result.table[~result.table["is_other"]]
    changes = sorted(named["change"].astype(int).tolist(), reverse=True)
    assert [int(v) - int(p) for v, p in zip(frame["value"], frame["previous"], strict=True)][: len(changes)] == changes
    assert url(at)["sort"] == ["change"]
    # the chart's legend (and stack) is in the table's order, and each group's bars add up to its row
    spec = chart(at)
    assert vega.legend(spec) == frame["group"].tolist()
    assert [sum(values) for values in vega.series(spec).values()] == [int(v) for v in frame["value"]]


def test_no_bucket_after_now_and_a_summary_in_words(app_env: pytest.MonkeyPatch) -> None:
    at = explore_page("analyst", {"period": "this_month"})
    spec = chart(at)
    assert len(vega.axis(spec)) == 29  # 1-29 Nov: nothing drawn after today
    summary = next(m.value for m in at.markdown if m.value.startswith("Tokens,"))
    assert "Nov 1, 2026 to Nov 29, 2026 (29 days, so far)" in summary
    assert "Oct 1, 2026 to Oct 29, 2026 10:00 (29 days)" in summary
    assert "Tokens by service, Nov 1, 2026" in vega.title(spec)


def test_analysts_rankings_sort_by_movement(app_env: pytest.MonkeyPatch, engine: Store) -> None:
    at = explore_page("analyst")
    at.selectbox(key="explore_rank_sort").set_value("rise").run()
    shown = next(d.value for d in at.dataframe if "display_name" in d.value)
    ranks = ex.rankings(engine, "acct-001", *ex.periods_for("this_month", NOW))
    rises = sorted(
        (float("inf") if n else int(c) for c, n in zip(ranks["rank_change"], ranks["is_new"], strict=True)),
        reverse=True,
    )
    moved = [
        float("inf") if p is None or pd.isna(p) else int(p) - int(r)
        for p, r in zip(shown["previous_rank"], shown["rank"], strict=True)
    ]
    assert moved == rises


def test_a_saved_view_is_found_again_in_the_sidebar(app_env: pytest.MonkeyPatch, engine: Store) -> None:
    at = explore_page("analyst", {"period": "last_month", "group": "member", "top": "5"})
    at.sidebar.text_input(key="explore_view_name").input("Members *last* month")
    next(b for b in at.sidebar.button if b.label == "Save view").click().run()
    assert not at.exception
    # somewhere else, then back through the sidebar
    at.selectbox(key="explore_period").set_value("this_week").run()
    at.selectbox(key="explore_group").set_value("model").run()
    opened = [b for b in at.sidebar.button if b.key and b.key.startswith("explore_view_open_")]
    assert [b.label for b in opened] == [r"Members \*last\* month"]  # typed text, shown as its characters
    opened[0].click().run()
    assert at.selectbox(key="explore_period").value == "last_month"
    assert at.selectbox(key="explore_group").value == "member"
    assert url(at)["period"] == ["last_month"] and url(at)["top"] == ["5"]
    assert shown_table(at) == engine_table(engine, "acct-001", ex.View(period="last_month", group="member", top=5))
    # another person does not see it
    other = explore_page("manager")
    assert not [b for b in other.sidebar.button if b.key and b.key.startswith("explore_view_open_")]


def test_saved_views_are_per_user_and_the_latest_counts(tmp_path: Path) -> None:
    from token_analytics.appdb import open_app_db
    from token_analytics.db.appfile import AppDBError

    app = open_app_db(tmp_path / "app.duckdb")
    app.saved_views.save_view("li", "Weekly", "period=this_week")
    app.saved_views.save_view("li", "weekly ", "period=last_week")  # another name: case kept
    app.saved_views.save_view("li", "Weekly", "period=last_week&group=member")
    app.saved_views.save_view("wang", "Mine", "period=today")
    assert app.saved_views.views("li") == [("Weekly", "period=last_week&group=member"), ("weekly", "period=last_week")]
    app.saved_views.remove_view("li", "weekly")
    assert app.saved_views.views("li") == [("Weekly", "period=last_week&group=member")]
    with pytest.raises(AppDBError):
        app.saved_views.save_view("li", "x" * 81, "period=today")
    rows = app.connection.execute("select count(*) from app.saved_views").fetchone()[0]
    assert rows == 5  # append-only: nothing updated or deleted
    app.close()


def test_compare_draws_the_previous_period_and_is_in_the_link(app_env: pytest.MonkeyPatch, engine: Store) -> None:
    at = explore_page("analyst", {"period": "last_week", "compare": "1"})
    assert at.toggle(key="explore_compare").value is True
    assert url(at)["compare"] == ["1"]
    values = vega.previous_line(chart(at))
    result = ex.explore(engine, "acct-001", ex.View(period="last_week"), NOW)
    previous = ex.explore(
        engine,
        "acct-001",
        ex.View(period="custom", start=result.previous.start, end=result.previous.last, group="none"),
        result.previous.last,
    )
    assert values == [int(v) for v in previous.series["value"]] and sum(values) == result.previous_total
    at.toggle(key="explore_compare").set_value(False).run()
    assert "compare" not in url(at)
    assert vega.previous_line(chart(at)) is None


def test_the_chart_draws_each_groups_value_per_bucket(app_env: pytest.MonkeyPatch, engine: Store) -> None:
    at = explore_page("analyst", {"period": "last_week", "group": "service"})
    result = ex.explore(engine, "acct-001", ex.View(period="last_week", group="service"), NOW)
    spec = chart(at)
    assert vega.axis(spec) == ["Nov 16", "Nov 17", "Nov 18", "Nov 19", "Nov 20", "Nov 21", "Nov 22"]
    drawn = vega.series(spec)
    for key in result.labels:
        rows = result.series[result.series["key"] == key].sort_values("bucket")
        assert drawn[t(f"service.{key}")] == [int(v) for v in rows["value"]]
    assert vega.colours(spec)["Agent"] == "#2563eb"  # the palette's first colour, as the table's first row
    totals = vega.totals(spec)
    assert [row["total"] for row in totals] == [sum(day) for day in zip(*drawn.values(), strict=True)]
    assert [row["text"] for row in totals] == [fmt.compact(row["total"]) if row["total"] else "" for row in totals]
    assert totals[0]["range"] == "Nov 16, 2026"


@pytest.mark.usefixtures("hostile_env")
def test_names_from_the_data_are_drawn_as_their_characters() -> None:
    """Vega draws legend and axis texts as text and its hover escapes HTML: a name arrives unescaped, once each."""
    at = explore_page("analyst", {"period": "last_30_days", "group": "member", "top": "5"})
    names = vega.legend(chart(at))
    assert names[0] == HOSTILE
    # every member has the same hostile name: the legend tells them apart
    assert names[1:5] == [f"{HOSTILE} ({n})" for n in range(2, 6)] and len(set(names)) == len(names)
    assert "&lt;" not in json.dumps(chart(at))


def test_no_page_draws_with_plotly() -> None:
    """Plotly's bundle (4.7 MB) loads with the first Plotly element: the app draws none, and does not depend on it."""
    root = Path(__file__).resolve().parents[2]
    sources = [root / "dashboard.py", *(root / "app_pages").glob("*.py"), *root.glob("token_analytics/**/*.py")]
    assert len(sources) > 20
    drawing = re.compile(r"import plotly|from plotly|plotly_chart")
    uses = [str(path.relative_to(root)) for path in sources if drawing.search(path.read_text(encoding="utf-8"))]
    assert uses == []
    assert "plotly" not in (root / "requirements.txt").read_text(encoding="utf-8")
