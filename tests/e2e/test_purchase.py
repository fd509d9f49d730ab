"""A manager buys tokens in a real browser by each method of /recharge, on a server of its own.

The purchases change acct-001's balance, so this module starts its own SaaS server with its own
ANALYTICS_APP_DB (same generated export): the figures test_browser.py compares with the CLI's
`report` stay untouched. Every expected number comes from `report` and config/prices.yaml.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.support import (
    ACCOUNTS,
    ARTIFACTS,
    ROOT,
    Sample,
    Server,
    main_area,
    settle,
    sign_in,
    sign_in_form,
    start_server,
    stop_server,
)
from token_analytics.billing.prices import Package, Prices, load_prices
from token_analytics.strings import t
from token_analytics.web import fmt

pytestmark = pytest.mark.e2e

ACCOUNT = ACCOUNTS["manager"]
REFERENCE = re.compile(r"^TAC-[A-Z2-9]{8}$")


@pytest.fixture(scope="module")
def shop(sample: Sample, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A SaaS server with a fresh app database of its own: its orders touch no other test's figures."""
    server = start_server("saas", sample, tmp_path_factory.mktemp("server-purchase"))
    try:
        yield server
    finally:
        stop_server(server)
        if ARTIFACTS.is_dir():
            shutil.copyfile(server.log, ARTIFACTS / "server-saas-purchase.log")


@pytest.fixture(scope="module")
def money() -> Prices:
    return load_prices(ROOT / "config" / "prices.yaml")  # the server's default ANALYTICS_PRICES_FILE


# --- reading and using /recharge --------------------------------------------------------------


def snap(page: Page, name: str) -> None:
    """An intermediate screenshot of the whole page, beside the one conftest leaves at the end of the test.

    Streamlit scrolls inside its main container: the viewport grows to the content for the shot.
    """
    page.mouse.move(0, 0)
    size = page.viewport_size or {"width": 1440, "height": 1000}
    height = int(page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight ?? 0"))
    if height > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": min(height, 8000)})
    page.screenshot(path=str(ARTIFACTS / f"test_purchase_{name}.png"))
    page.set_viewport_size(size)


def metric(page: Page, label: str) -> Locator:
    """The st.metric whose label is exactly `label`."""
    title = page.locator('[data-testid="stMetricLabel"]').filter(has_text=re.compile(f"^{re.escape(label)}$"))
    return main_area(page).locator('[data-testid="stMetric"]').filter(has=title)


def balance_value(page: Page) -> Locator:
    """The balance metric of /recharge, labelled with the account's name and id ("Acme (acct-001)")."""
    label = re.compile(f"^{re.escape(t('recharge.balance', account=''))}.+ \\({re.escape(ACCOUNT)}\\)$")
    title = page.locator('[data-testid="stMetricLabel"]').filter(has_text=label)
    balance = main_area(page).locator('[data-testid="stMetric"]').filter(has=title)
    return balance.locator('[data-testid="stMetricValue"]')


def expect_balance(page: Page, tokens: int) -> None:
    """The balance metric of /recharge shows `tokens` exactly (fmt.tokens)."""
    expect(balance_value(page)).to_have_text(fmt.tokens(tokens))


def expect_analysis_balance(page: Page, tokens: int) -> None:
    """The Token Balance card of /analysis: compact (or exact) on the card, exact in its caption."""
    card = metric(page, t("card.balance"))
    shown = card.locator('[data-testid="stMetricValue"]')
    exact, short = fmt.tokens(tokens), fmt.compact(tokens)
    expect(shown).to_have_text(re.compile(f"^({re.escape(exact)}|{re.escape(short)})$"))
    caption = main_area(page).locator('[data-testid="stCaptionContainer"]')
    expect(caption.filter(has_text=t("card.exact_all_time", tokens=exact))).to_have_count(1)


def grid_rows(grid: Locator) -> list[dict[str, str]]:
    """The rows of an st.dataframe, read from the grid's accessibility table (drawn on focus)."""
    grid.locator('[data-testid="data-grid-canvas"]').focus()
    table = grid.locator('table[role="grid"]')
    expect(table.locator('td[role="gridcell"]').first).to_be_attached()
    header = [cell.strip() for cell in table.locator('th[role="columnheader"]').all_inner_texts()]
    rows = table.locator('tbody tr[role="row"]')
    return [dict(zip(header, row.locator("td").all_inner_texts(), strict=True)) for row in rows.all()]


def expect_analysis_after_purchase(page: Page, server: Server, method: str, tokens: int, shot: str) -> None:
    """After a purchase /analysis still draws everything; the newest entry is this credit, with its method."""
    page.goto(f"{server.url}/analysis")
    body = main_area(page)
    expect(body.get_by_role("heading", name=t("section.leaderboard"))).to_be_visible()
    expect(body.locator('[data-testid="stDataFrame"]')).to_have_count(3)  # services, recent, leaderboard
    expect(body.locator('[data-testid="stException"]')).to_have_count(0)
    expect(body.locator('[data-testid="stAlertContentError"]')).to_have_count(0)
    expect(body).not_to_contain_text(t("error.unexpected"))
    grids = body.locator('[data-testid="stDataFrame"]')
    recent = grid_rows(grids.nth(1))
    assert len(recent) == 10, recent
    newest = recent[0]
    # the accessibility table holds the cell's value (100000), the canvas draws it formatted (+100,000)
    amount = int(newest[t("column.amount_tokens")].replace(",", "").replace("+", ""))
    assert (newest[t("column.type")], amount, newest[t("column.method")]) == (
        t("txn.RECHARGE"),
        tokens,
        t(f"method.{method}"),
    ), newest
    methods = {row[t("column.method")] for row in recent}
    assert not methods & {"nan", "None", ""}, methods  # entries without a method read "—"
    board = grid_rows(grids.nth(2))
    assert board and board[0][t("column.rank")] == "1", board
    snap(page, shot)


def open_recharge(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/recharge")
    expect(main_area(page).get_by_role("heading", name=t("page.recharge"), exact=True)).to_be_visible()
    expect(balance_value(page)).to_be_visible()


def choose(page: Page, group: str, option: str) -> None:
    """Pick `option` in the st.radio labelled `group` and wait until Streamlit has taken it."""
    radio = main_area(page).locator('[data-testid="stRadio"]').filter(has_text=group)
    radio.get_by_text(option, exact=True).click()
    expect(radio.get_by_role("radio", name=option, exact=True)).to_be_checked()
    # Then wait for the rerun it starts to end: while it runs, Streamlit keeps the previous run's elements
    # beside the new ones (two Price metrics after choosing bank transfer: a strict-mode failure in a
    # fresh-venv run of the whole suite, 1 of 4 runs).
    settle(page)


def create_order(page: Page, money: Prices, package: Package, method: str) -> str:
    """Choose the package and method, create the order (clicking twice) and return its id."""
    label = t(
        "recharge.package_label", tokens=fmt.tokens(package.tokens), price=money.format_price(package.price_cents)
    )
    choose(page, t("recharge.package"), label)
    choose(page, t("recharge.method"), t(f"method.{method}"))
    price = metric(page, t("recharge.price")).locator('[data-testid="stMetricValue"]')
    expect(price).to_have_text(money.format_price(package.price_cents))
    create = main_area(page).get_by_role("button", name=t("recharge.create"), exact=True)
    create.click()
    expect(main_area(page).get_by_role("heading", name=t("recharge.your_order"))).to_be_visible()
    paid_by = re.escape(f": {fmt.tokens(package.tokens)} tokens for {money.format_price(package.price_cents)}, ")
    paid_by += re.escape(f"paid by {t(f'method.{method}')}.")
    summary = main_area(page).locator('[data-testid="stMarkdown"]').filter(has_text=re.compile(r"^Order .*" + paid_by))
    expect(summary).to_have_count(1)
    order_id = summary.locator("strong").inner_text().strip()
    # "Create order" again for the same content is the same order, and the button is then disabled.
    create.click()
    expect(create).to_be_disabled()
    expect(main_area(page)).to_contain_text(t("recharge.already_open"))
    expect(summary.locator("strong")).to_have_text(order_id)
    return order_id


def pay_in_sandbox(page: Page, money: Prices, package: Package, method: str, before: int, shot: str) -> int:
    """Create a WECHAT/ALIPAY order, double-click "Simulate payment", and see exactly one credit."""
    create_order(page, money, package, method)
    body = main_area(page)
    qr = body.locator('[data-testid="stImage"]').filter(has_text=t("recharge.scan", method=t(f"method.{method}")))
    expect(qr.locator("img")).to_be_visible()
    assert qr.locator("img").evaluate("img => img.naturalWidth") > 0, "the QR code did not load"
    expect(body).to_contain_text(f"sandbox://pay/{method.lower()}/")
    expect_balance(page, before)  # nothing credited for an unpaid order
    simulate = body.get_by_role("button", name=t("recharge.simulate"), exact=True)
    simulate.dblclick()  # a double click on the payment: still one credit
    expect(body).to_contain_text(t("recharge.paid", tokens=fmt.tokens(package.tokens)))
    expect(simulate).to_have_count(0)
    after = before + package.tokens
    expect_balance(page, after)
    snap(page, shot)
    page.reload()  # a new session over the same app database: the paid order is not paid again
    expect_balance(page, after)
    page.wait_for_timeout(500)  # give a second credit the time to show itself
    expect_balance(page, after)
    return after


def order_rows(page: Page) -> list[dict[str, str]]:
    """The rows of "Orders of this account"."""
    grid = (
        main_area(page)
        .locator('[data-testid="stDataFrame"]')
        .filter(has=page.locator('[data-testid="data-grid-canvas"]'))
    )
    return grid_rows(grid)


def sign_out(page: Page) -> None:
    """Sign out once the app is idle: a click racing a rerun right after a reload was lost once here (1 in ~8 runs)."""
    settle(page)
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name=t("sidebar.logout")).click()
    expect(sign_in_form(page)).to_be_visible()


# --- the test ---------------------------------------------------------------------------------


def test_a_manager_buys_tokens_by_each_method(page: Page, shop: Server, sample: Sample, money: Prices) -> None:
    """WeChat Pay and Alipay through the sandbox, then a bank transfer an admin confirms: each credits once."""
    assert len(money.packages) >= 3, "config/prices.yaml needs three packages for three distinct purchases"
    wechat, alipay, bank = money.packages[:3]
    start = sample.report(ACCOUNT)["cards"]["balance"]["tokens"]

    sign_in(page, shop, "manager")
    expect_analysis_balance(page, start)
    open_recharge(page, shop)
    expect(main_area(page)).to_contain_text(t("recharge.sandbox_banner", provider="").split(":")[0])
    expect_balance(page, start)

    balance = pay_in_sandbox(page, money, wechat, "WECHAT", start, "1_wechat_paid")
    expect_analysis_after_purchase(page, shop, "WECHAT", wechat.tokens, "1_wechat_analysis")
    open_recharge(page, shop)
    balance = pay_in_sandbox(page, money, alipay, "ALIPAY", balance, "2_alipay_paid")
    expect_analysis_after_purchase(page, shop, "ALIPAY", alipay.tokens, "2_alipay_analysis")
    open_recharge(page, shop)

    # Bank transfer: instructions with a unique reference; PENDING, nothing credited until an admin confirms.
    order_id = create_order(page, money, bank, "BANK_TRANSFER")
    body = main_area(page)
    expect(body).to_contain_text(t("recharge.bank_pending"))
    instructions = body.locator('[data-testid="stTable"]')
    row = instructions.locator("tr").filter(has_text=t("recharge.bank_reference"))
    reference = row.locator("td").last.inner_text().strip()
    assert REFERENCE.match(reference), f"bank reference {reference!r} is not TAC-XXXXXXXX"
    expect(instructions).to_contain_text(money.format_price(bank.price_cents))
    expect(body).to_contain_text(order_id)
    assert [(o["Reference"], o["Status"]) for o in order_rows(page) if o["Order"] == order_id] == [
        (reference, t("recharge.status_PENDING"))
    ]
    expect_balance(page, balance)
    snap(page, "3_bank_pending")
    sign_out(page)

    # The admin confirms receipt on /admin (double click included), and the transfer leaves the list.
    sign_in(page, shop, "admin")
    page.goto(f"{shop.url}/admin")
    expect(main_area(page).get_by_role("heading", name=t("page.admin"), exact=True)).to_be_visible()
    confirm = page.get_by_role("button", name=t("admin.confirm"), exact=True)
    # The innermost block with this reference and a confirm button: the transfer's bordered container.
    transfer = main_area(page).locator('[data-testid="stVerticalBlock"]').filter(has_text=reference).filter(has=confirm)
    transfer = transfer.last
    for fragment in (ACCOUNT, fmt.tokens(bank.tokens), money.format_price(bank.price_cents), "manager"):
        expect(transfer).to_contain_text(fragment)
    transfer.get_by_role("button", name=t("admin.confirm"), exact=True).dblclick()
    expect(main_area(page)).to_contain_text(t("admin.no_transfers"))
    # It left the pending list; the admin is told what happened, and the history keeps it.
    expect(main_area(page)).to_contain_text(f"Confirmed {reference}: {fmt.tokens(bank.tokens)} tokens")
    expect(main_area(page).locator('[data-testid="stVerticalBlock"]').filter(has=confirm)).to_have_count(0)
    snap(page, "4_admin_confirmed")
    page.reload()
    expect(main_area(page)).to_contain_text(t("admin.no_transfers"))
    sign_out(page)

    # The manager again: the balance rose once more by exactly the transfer's tokens, also on /analysis.
    sign_in(page, shop, "manager")
    expected = start + wechat.tokens + alipay.tokens + bank.tokens
    expect_analysis_balance(page, expected)
    expect_analysis_after_purchase(page, shop, "BANK_TRANSFER", bank.tokens, "5_bank_analysis")
    open_recharge(page, shop)
    expect_balance(page, expected)
    orders = {(o["Method"], int(o["Tokens"]), o["Status"]) for o in order_rows(page)}
    paid = t("recharge.status_PAID")
    assert len(order_rows(page)) == 3, order_rows(page)
    assert orders == {
        (t("method.WECHAT"), wechat.tokens, paid),
        (t("method.ALIPAY"), alipay.tokens, paid),
        (t("method.BANK_TRANSFER"), bank.tokens, paid),
    }
