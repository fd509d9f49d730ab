"""Deterministic, realistic sample exports (SPEC §3 layout, SPEC §7 `generate`).

Everything per event is vectorised with numpy / pyarrow; Python loops run only over
accounts, members, days and output files. Events are produced month by month in
chunks of at most CHUNK_ROWS rows, each written to its own part file, so memory stays
flat however many events are asked for. The ledger is derived from the same events:
one CONSUME entry per (account, member, local day) whose amount is minus that member's
tokens that day, plus sign-up BONUS grants, RECHARGE top-ups that keep balances
positive (except the last account, which is left overdrawn), REFUNDs and ADJUSTMENTs.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import ArrayLike

from token_analytics.engine.schema import (
    ACCOUNTS,
    INT,
    MEMBERS,
    PAYMENT_METHODS,
    SERVICES,
    STRING,
    TIMESTAMP,
    TRANSACTIONS,
    USAGE_EVENTS,
)

ZONE = ZoneInfo("Asia/Shanghai")  # the local day and hour rhythm of the synthetic users
DAYS = 120  # local days with events: today and the 119 before it
CHUNK_ROWS = 2_000_000
MIN_EVENTS = 100
FOLDERS = ("accounts", "members", "usage_events", "transactions")

# the export format is defined once, in schema.py
ACCOUNTS_SCHEMA = ACCOUNTS.schema
MEMBERS_SCHEMA = MEMBERS.schema
EVENTS_SCHEMA = USAGE_EVENTS.schema
TRANSACTIONS_SCHEMA = TRANSACTIONS.schema

SERVICE_SHARES = np.array([0.50, 0.18, 0.32])
TOKEN_MEDIAN = np.array([2600.0, 1200.0, 1800.0])  # per service; overall median about 2,000
TOKEN_SIGMA = np.array([1.1, 0.9, 1.0])
TOKEN_MAX = 2_000_000
INPUT_SHARE = np.array([[0.60, 0.90], [0.50, 0.80], [0.30, 0.60]])  # uniform range of input / tokens, per service
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet", "deepseek-v3", "qwen-max")
MODEL_SHARES = np.array(
    [
        [0.30, 0.05, 0.35, 0.18, 0.12],  # agent
        [0.15, 0.35, 0.10, 0.20, 0.20],  # operator
        [0.30, 0.15, 0.20, 0.15, 0.20],  # assistant
    ]
)
# Relative volume per local hour: quiet nights, busy 9-18 with a lunch dip, a lighter evening.
HOUR_WEIGHTS = np.array(
    [0.15, 0.08, 0.05, 0.04, 0.04, 0.06, 0.15, 0.40, 0.80, 1.00, 1.20, 1.20]
    + [0.80, 0.90, 1.20, 1.25, 1.20, 1.00, 0.80, 0.60, 0.60, 0.55, 0.40, 0.25]
)
WEEKEND_FACTOR = 0.4

PLANS = ("free", "pro", "enterprise")
PLAN_BONUS = {"free": 100_000, "pro": 1_000_000, "enterprise": 10_000_000}
TXN_TYPES = ("BONUS", "RECHARGE", "CONSUME", "REFUND", "ADJUSTMENT")  # also the tie order within one instant
BONUS, RECHARGE, CONSUME, REFUND, ADJUSTMENT = range(5)
# Ledger descriptions by index: 1..7 CONSUME by bit mask of the services used that day (agent=1, operator=2,
# assistant=4), then BONUS, REFUND, ADJUSTMENT, then RECHARGE by payment method.
DESCRIPTIONS = (
    [""]
    + ["/".join(s for b, s in enumerate(SERVICES) if mask >> b & 1) + " usage" for mask in range(1, 8)]
    + ["Sign-up bonus", "Refund: service error", "Manual adjustment"]
    + ["Top-up via WeChat Pay", "Top-up via Alipay", "Top-up via bank transfer"]
)
DESC_BONUS, DESC_REFUND, DESC_ADJUSTMENT, DESC_RECHARGE = 8, 9, 10, 11

COMPANIES = (
    "Lingxi Technology",
    "Beacon Studio",
    "Northwind Labs",
    "Hangzhou Cloudpeak",
    "Blue Harbor Media",
    "Shenzhen Quanta AI",
    "Jade River Logistics",
    "Orchid Health",
    "Suzhou Silkline",
    "Redwood Analytics",
    "Pearl Delta Trading",
    "Summit Legal",
    "Chengdu Panda Games",
    "Lotus Education",
    "Ironbridge Finance",
    "Tidewater Retail",
)
NAMES = (
    "Li Wei", "Zhang Min", "Wang Fang", "Liu Yang", "Chen Jing", "Yang Lei", "Zhao Qiang", "Huang Li",
    "Zhou Jie", "Wu Xia", "Xu Ming", "Sun Hui", "Ma Lin", "Zhu Tao", "Hu Jun", "Guo Hong",
    "He Ping", "Lin Na", "Gao Yan", "Luo Bin", "Alice Chen", "Bob Li", "Carol Wang", "David Zhang",
    "Emma Liu", "Frank Wu", "Grace Lin", "Henry Zhao", "Ivy Huang", "Jack Sun", "Kevin Xu", "Lily Ma",
    "Mia Zhou", "Nick Guo", "Olivia He", "Peter Gao", "Queenie Luo", "Ryan Hu", "Sophie Zhu", "Tom Yang",
)  # fmt: skip

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 24 * HOUR_US


@dataclass(frozen=True)
class Shape:
    """What a generated export looks like beyond its size; the defaults are the demo sample's.

    The platform's shape (benchmarks/make_platform.py): accounts of 20-40 members, 4 models, 90 days, one events
    file per UTC day, and 2% of events exported again in a neighbouring day's file, a fifth of those with changed
    content (the input/output split moves by one token: the total, and so the ledger, stays as it was).
    """

    members: tuple[int, int] | None = None  # members per account, lowest and highest; None: the sample's 3-15 mix
    models: int = len(MODELS)  # the first this many of MODELS
    days: int = DAYS
    daily_files: bool = False  # usage_events/month=YYYY-MM/day-YYYY-MM-DD-part-NNNN.parquet, by UTC day
    reexported: float = 0.0  # share of events written a second time, in the previous or the next day's file
    changed: float = 0.2  # share of the re-exported events whose second copy differs

    def __post_init__(self) -> None:
        if self.members is not None and not 1 <= self.members[0] <= self.members[1] <= 99:
            raise ValueError(f"members={self.members} must be a range within 1-99.")
        if not 1 <= self.models <= len(MODELS):
            raise ValueError(f"models={self.models} must be from 1 to {len(MODELS)}.")
        if self.days < 2:
            raise ValueError(f"days={self.days} must be at least 2.")
        if not (0.0 <= self.reexported <= 1.0 and 0.0 <= self.changed <= 1.0):
            raise ValueError("reexported and changed are shares from 0 to 1.")
        if self.reexported and not self.daily_files:
            raise ValueError("re-exported events need daily files (a neighbouring day's file).")


SAMPLE = Shape()
PLATFORM = Shape(members=(20, 40), models=4, days=90, daily_files=True, reexported=0.02, changed=0.2)


@dataclass(frozen=True)
class _Calendar:
    """The local days of the window and their UTC boundaries, in microseconds since the epoch."""

    days: int  # local days with events: today and the days - 1 before it
    now_us: int
    first_day: datetime  # local midnight of day 0
    day_start: np.ndarray  # (DAYS + 1,) local midnights; the last one is tomorrow
    weekend: np.ndarray  # (DAYS,) bool
    seg_lo: np.ndarray  # (DAYS, 2) each day split at the UTC midnight inside it, so a segment has one UTC month
    seg_hi: np.ndarray  # (DAYS, 2) exclusive; today's last segment ends just after now
    seg_mass: np.ndarray  # (DAYS, 2) share of the day's hour curve inside the segment
    seg_f: np.ndarray  # (DAYS, 2, 2) hour-curve CDF at the segment's bounds
    seg_month: list[list[str]]  # (DAYS, 2) "YYYY-MM" of the segment (UTC)
    last_month_end: int  # index of the last day of the previous local month


@dataclass(frozen=True)
class _Accounts:
    ids: list[str]
    names: list[str]
    plans: list[str]
    created_us: np.ndarray  # (A,)
    first_active: np.ndarray  # (A,) first day index with events (the day after sign-up)
    weights: np.ndarray  # (A,) relative volume, Zipf-like


@dataclass(frozen=True)
class _Members:
    ids: list[str]
    account: np.ndarray  # (U,) account index of each member
    names: list[str]
    emails: list[str]
    start: np.ndarray  # (A,) first member index of each account
    end: np.ndarray  # (A,) one past the last member index of each account
    keys: np.ndarray  # (U,) account index + cumulative share of the member inside the account
    service_cum: np.ndarray  # (U, 2) cumulative service shares of each member


@dataclass
class _Usage:
    """Per (member, local day) aggregates of the events written, flattened as member * days + day."""

    tokens: np.ndarray
    calls: np.ndarray
    last_us: np.ndarray
    services: np.ndarray  # bit mask of the services used
    events: int = 0
    first_us: int | None = None
    max_us: int | None = None
    files: int = 0
    reexported: int = 0
    changed: int = 0


def generate(
    out: Path,
    accounts: int = 12,
    events: int = 200_000,
    seed: int = 7,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    shape: Shape = SAMPLE,
) -> dict:
    """Write sample exports under `out` (SPEC §3) and return a summary of what was written."""
    if accounts < 1:
        raise ValueError(f"accounts={accounts} must be at least 1.")
    if seed < 0:
        raise ValueError(f"seed={seed} must be zero or positive.")
    if events < MIN_EVENTS:
        raise ValueError(f"events={events} must be at least {MIN_EVENTS}.")
    now = datetime.now(UTC) if now is None else now
    if now.tzinfo is None:
        raise ValueError(f"now={now.isoformat()} has no UTC offset; pass a timezone-aware datetime.")
    out = Path(out)
    rng = np.random.default_rng(seed)
    cal = _calendar(now, shape.days)
    acc = _make_accounts(rng, accounts, cal)
    mem = _make_members(rng, acc, shape.members)
    counts = _allocate(rng, events, acc, cal)

    _reset(out)
    files = [_write(out, "accounts/accounts.parquet", _accounts_table(acc, mem), progress)]
    files.append(_write(out, "members/members.parquet", _members_table(mem, acc), progress))
    usage = _write_events(out, seed, counts, acc, mem, cal, progress, shape)
    txns = _transactions(rng, seed, acc, mem, usage, cal)
    month = _month_labels(txns.column("created_at"))
    for label in np.unique(month).tolist():
        mask = pa.array(month == label)
        files.append(_write(out, f"transactions/month={label}/part-0000.parquet", txns.filter(mask), progress))
    extra = {"reexported": usage.reexported, "changed": usage.changed} if shape.reexported else {}
    return {
        "out": str(out),
        "accounts": len(acc.ids),
        "members": len(mem.ids),
        "events": usage.events,
        "transactions": txns.num_rows,
        "files": len(files) + usage.files,
        "first_event_at": _to_datetime(usage.first_us),
        "last_event_at": _to_datetime(usage.max_us),
        **extra,
    }


# --- calendar ----------------------------------------------------------------------------------------------------


def _us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def _to_datetime(us: int | None) -> datetime | None:
    return None if us is None else EPOCH + timedelta(microseconds=int(us))


_HOUR_P = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()
_HOUR_CUM_END = np.cumsum(_HOUR_P)
_HOUR_CUM_START = _HOUR_CUM_END - _HOUR_P


def _hour_cdf(seconds: np.ndarray) -> np.ndarray:
    """Share of a day's volume before `seconds` after local midnight."""
    seconds = np.asarray(seconds, dtype=np.float64)
    hour = np.clip(np.floor(seconds / 3600), 0, 23).astype(np.int64)
    cdf = _HOUR_CUM_START[hour] + _HOUR_P[hour] * (seconds - 3600 * hour) / 3600
    return np.clip(cdf, 0.0, 1.0)


def _hour_inverse(share: np.ndarray) -> np.ndarray:
    """Seconds after local midnight at which `share` of the day's volume has happened."""
    hour = np.clip(np.searchsorted(_HOUR_CUM_END, share, side="right"), 0, 23)
    return 3600 * hour + (share - _HOUR_CUM_START[hour]) / _HOUR_P[hour] * 3600


def _calendar(now: datetime, days: int = DAYS) -> _Calendar:
    """Split the `days` local days up to `now` into UTC-month-pure segments with their share of the hour curve."""
    now_us = _us(now)
    today = now.astimezone(ZONE).date()
    dates = [today - timedelta(days=days - 1 - i) for i in range(days + 1)]
    day_start = np.array([_us(datetime.combine(d, time(0), ZONE)) for d in dates], dtype=np.int64)
    seg_lo = np.zeros((days, 2), dtype=np.int64)
    seg_hi = np.zeros((days, 2), dtype=np.int64)
    for i in range(days):
        start, end = int(day_start[i]), int(day_start[i + 1])
        if i == days - 1:
            end = min(end, now_us + 1)  # events up to and including now
        midnight = (start // DAY_US + 1) * DAY_US
        cut = min(max(midnight, start), end)
        seg_lo[i] = (start, cut)
        seg_hi[i] = (cut, end)
    rel = (np.stack([seg_lo, seg_hi], axis=-1) - day_start[:days, None, None]) / US
    seg_f = _hour_cdf(rel)
    seg_mass = np.where(seg_hi > seg_lo, seg_f[..., 1] - seg_f[..., 0], 0.0)
    months = seg_lo.astype("datetime64[us]").astype("datetime64[M]").astype(str)
    first_of_month = today.replace(day=1)
    return _Calendar(
        days=days,
        now_us=now_us,
        first_day=datetime.combine(dates[0], time(0), ZONE),
        day_start=day_start,
        weekend=np.array([d.weekday() >= 5 for d in dates[:days]]),
        seg_lo=seg_lo,
        seg_hi=seg_hi,
        seg_mass=seg_mass,
        seg_f=seg_f,
        seg_month=months.tolist(),
        last_month_end=days - 1 - (today - first_of_month).days - 1,
    )


# --- accounts and members ----------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return "-".join(text.lower().split())


def _make_accounts(rng: np.random.Generator, count: int, cal: _Calendar) -> _Accounts:
    """Accounts with Zipf-like volumes; acct-001 enterprise and by far the largest, acct-002 pro, acct-003 and the
    last one free (the last one small).

    Every account signs up inside the window or on the day before it (acct-001), and its events start the day
    after: the history has no stretch between sign-up and the first usage that the sample has no events for.
    """
    width = max(3, len(str(count)))
    ids = [f"acct-{i + 1:0{width}d}" for i in range(count)]
    names = [
        COMPANIES[i % len(COMPANIES)] + (f" {i // len(COMPANIES) + 1}" if i >= len(COMPANIES) else "")
        for i in range(count)
    ]
    weights = 1.0 / np.arange(1, count + 1) ** 1.1
    weights[0] *= 2.0
    plans = [str(p) for p in rng.choice(PLANS, size=count, p=[0.40, 0.45, 0.15])]
    # Sign-up day relative to day 0 of the window; events start the day after (-1: the whole window).
    signup = rng.integers(-1, 61, size=count)
    plans[0], signup[0] = "enterprise", -1
    if count > 1:
        plans[1], signup[1] = "pro", rng.integers(-1, 15)
    if count > 2:
        plans[2] = "free"  # the demo's Free account (auth/demo_users.yaml: manager3), so "Upgrade to Pro" can be tried
        plans[-1], signup[-1] = "free", rng.integers(-1, 31)
    minutes = rng.integers(9 * 60, 18 * 60, size=count)
    created = [cal.first_day + timedelta(days=int(d)) for d in signup]
    created_us = np.array(
        [
            _us(datetime.combine(c.date(), time(0), ZONE) + timedelta(minutes=int(m)))
            for c, m in zip(created, minutes, strict=True)
        ],
        dtype=np.int64,
    )
    return _Accounts(
        ids=ids,
        names=names,
        plans=plans,
        created_us=created_us,
        first_active=np.maximum(signup + 1, 0),
        weights=weights,
    )


def _make_members(rng: np.random.Generator, acc: _Accounts, members: tuple[int, int] | None = None) -> _Members:
    """3-15 members per account (or `members`: lowest, highest) with skewed activity and personal service habits."""
    count = len(acc.ids)
    if members is not None:
        sizes = rng.integers(members[0], members[1] + 1, size=count)
    else:
        sizes = rng.integers(3, 9, size=count)
        sizes[0] = rng.integers(12, 16)
        if count > 1:
            sizes[1] = rng.integers(6, 11)
        if count > 2:
            sizes[-1] = 3
    ids: list[str] = []
    names: list[str] = []
    emails: list[str] = []
    keys: list[np.ndarray] = []
    for a, size in enumerate(sizes):
        chosen = rng.choice(len(NAMES), size=size, replace=bool(size > len(NAMES)))
        domain = _slug(acc.names[a]) + ".example.com"
        for j, n in enumerate(chosen):
            ids.append(f"user-{acc.ids[a].removeprefix('acct-')}-{j + 1:02d}")
            names.append(NAMES[n])
            emails.append(f"{NAMES[n].lower().replace(' ', '.')}@{domain}")
        share = rng.lognormal(0.0, 0.3, size=size) / np.arange(1, size + 1) ** 0.9
        cum = np.cumsum(share / share.sum())
        cum[-1] = 1.0
        keys.append(a + cum)
    end = np.cumsum(sizes)
    start = end - sizes
    services = rng.dirichlet(20 * SERVICE_SHARES, size=len(ids))
    return _Members(
        ids=ids,
        account=np.repeat(np.arange(count), sizes),
        names=names,
        emails=emails,
        start=start,
        end=end,
        keys=np.concatenate(keys),
        service_cum=np.cumsum(services, axis=1)[:, :2],
    )


def _accounts_table(acc: _Accounts, mem: _Members) -> pa.Table:
    owners = [mem.names[s] for s in mem.start]  # the owner is member 01
    columns = [acc.ids, acc.names, owners, acc.plans, pa.array(acc.created_us, TIMESTAMP)]
    return pa.Table.from_arrays(columns, schema=ACCOUNTS_SCHEMA)


def _members_table(mem: _Members, acc: _Accounts) -> pa.Table:
    account_ids = pa.array(acc.ids).take(pa.array(mem.account))
    return pa.Table.from_arrays([mem.ids, account_ids, mem.names, mem.emails], schema=MEMBERS_SCHEMA)


# --- events ------------------------------------------------------------------------------------------------------


def _allocate(rng: np.random.Generator, events: int, acc: _Accounts, cal: _Calendar) -> np.ndarray:
    """Events per (account, day, segment): account size x weekday rhythm x trend x noise x hour curve."""
    count = len(acc.ids)
    day = np.arange(cal.days)
    day_weight = np.where(cal.weekend, WEEKEND_FACTOR, 1.0)
    slope = rng.uniform(-0.4, 0.8, size=count)
    slope[0] = 0.5
    trend = 1.0 + slope[:, None] * (day[None, :] / (cal.days - 1) - 0.5)
    noise = rng.lognormal(0.0, 0.25, size=(count, cal.days))
    active = day[None, :] >= acc.first_active[:, None]
    weight = acc.weights[:, None] * day_weight[None, :] * trend * noise * active
    cells = weight[:, :, None] * cal.seg_mass[None, :, :]
    counts = rng.multinomial(events, (cells / cells.sum()).ravel()).reshape(cells.shape)

    # Guarantees the app's demo relies on: the three demo accounts (auth/demo_users.yaml) have events today,
    # yesterday and last month; the last account has some usage, so it can be overdrawn.
    forced: list[tuple[int, int, int, int]] = []  # (account, day, segment, at least)
    for a in range(min(count, 3)):
        for d in sorted({cal.days - 1, cal.days - 2, cal.last_month_end}):
            forced.append((a, d, int(np.argmax(cal.seg_mass[d])), 1))
    if count > 2:
        forced.append((count - 1, cal.days - 2, int(np.argmax(cal.seg_mass[cal.days - 2])), 2))
    protected = np.zeros(counts.shape, dtype=bool)
    for a, d, s, _ in forced:
        protected[a, d, s] = True
    for a, d, s, need in forced:
        while counts[a, d, s] < need:
            donor = np.unravel_index(np.argmax(np.where(protected, -1, counts)), counts.shape)
            counts[donor] -= 1
            counts[a, d, s] += 1
    return counts


def _write_events(
    out: Path,
    seed: int,
    counts: np.ndarray,
    acc: _Accounts,
    mem: _Members,
    cal: _Calendar,
    progress: Callable[[str], None] | None,
    shape: Shape = SAMPLE,
) -> _Usage:
    """Write usage_events month by month (or day by day) in UTC, in chunks, and aggregate what the ledger needs."""
    count = len(acc.ids)
    size = len(mem.ids) * cal.days
    usage = _Usage(
        tokens=np.zeros(size, dtype=np.int64),
        calls=np.zeros(size, dtype=np.int64),
        last_us=np.full(size, -1, dtype=np.int64),
        services=np.zeros(size, dtype=np.int64),
    )
    segments = [(d, s) for d in range(cal.days) for s in range(2) if cal.seg_hi[d, s] > cal.seg_lo[d, s]]
    months: dict[str, list[tuple[int, int]]] = {}
    for d, s in segments:
        # a segment lies in one UTC day (each local day is cut at the UTC midnight inside it)
        label = str(cal.seg_lo[d, s].astype("datetime64[us]").astype("datetime64[D]")) if shape.daily_files else None
        months.setdefault(label or cal.seg_month[d][s], []).append((d, s))
    reexports = _Reexports(out, seed, shape, progress) if shape.daily_files else None
    chunk_no = 0
    for label, segs in months.items():
        seg_d = np.array([d for d, _ in segs])
        seg_s = np.array([s for _, s in segs])
        flat = counts[:, seg_d, seg_s].T.ravel()  # cells in time order, then account
        cum = np.cumsum(flat)
        total = int(cum[-1]) if len(cum) else 0
        if total == 0:
            continue
        parts = -(-total // CHUNK_ROWS)
        bounds = np.linspace(0, total, parts + 1).astype(np.int64)
        for part in range(parts):
            rows = np.arange(bounds[part], bounds[part + 1])
            cell = np.searchsorted(cum, rows, side="right")
            seg, a = np.divmod(cell, count)
            chunk_rng = np.random.default_rng([seed, chunk_no])
            table, agg = _event_chunk(
                chunk_rng, seed, usage.events, seg_d[seg], seg_s[seg], a, acc, mem, cal, shape.models
            )
            if reexports is not None:
                reexports.add(f"usage_events/month={label[:7]}/day-{label}-part-{part:04d}.parquet", table)
            else:
                _write(out, f"usage_events/month={label}/part-{part:04d}.parquet", table, progress)
            _merge(usage, agg)
            usage.files += 1
            chunk_no += 1
        if reexports is not None:
            reexports.day_done()
    if reexports is not None:
        reexports.finish()
        usage.reexported, usage.changed = reexports.copies, reexports.changed
    return usage


class _Reexports:
    """Writes the daily event files one day late, so a share of each day's events can be copied into the previous
    day's file (still held) or the next day's (carried forward). A changed copy moves one token from output to
    input: a conflict whose total tokens, and so the ledger, stay as they were."""

    def __init__(self, out: Path, seed: int, shape: Shape, progress: Callable[[str], None] | None) -> None:
        self.out, self.seed, self.shape, self.progress = out, seed, shape, progress
        self.held: list[tuple[str, pa.Table]] = []  # the previous day's files, not yet written
        self.today: list[tuple[str, pa.Table]] = []
        self.carried: list[pa.Table] = []  # copies for the next day's first file
        self.days = 0
        self.copies = 0
        self.changed = 0

    def add(self, name: str, table: pa.Table) -> None:
        self.today.append((name, table))

    def day_done(self) -> None:
        rng = np.random.default_rng([self.seed, 7_000_003, self.days])
        self.days += 1
        to_previous: list[pa.Table] = []
        to_next: list[pa.Table] = []
        for _, table in self.today:
            n = table.num_rows
            picked = np.flatnonzero(rng.random(n) < self.shape.reexported)
            backwards = rng.random(len(picked)) < 0.5
            changed = rng.random(len(picked)) < self.shape.changed
            copies = table.take(pa.array(picked))
            inputs = copies.column("input_tokens").to_numpy()
            outputs = copies.column("output_tokens").to_numpy()
            movable = changed & (outputs > 0)
            copies = copies.set_column(
                copies.schema.get_field_index("input_tokens"), "input_tokens", pa.array(inputs + movable)
            ).set_column(copies.schema.get_field_index("output_tokens"), "output_tokens", pa.array(outputs - movable))
            if not self.held:  # the first day has no previous file: its copies all go forward
                backwards[:] = False
            to_previous.append(copies.filter(pa.array(backwards)))
            to_next.append(copies.filter(pa.array(~backwards)))
            self.copies += len(picked)
            self.changed += int(movable.sum())
        if self.held:
            name, table = self.held[-1]
            self.held[-1] = (name, pa.concat_tables([table, *to_previous]))
        self._write_held()
        if self.carried:
            name, table = self.today[0]
            self.today[0] = (name, pa.concat_tables([table, *self.carried]))
        self.held, self.today, self.carried = self.today, [], to_next

    def finish(self) -> None:
        # the last day's forward copies have no next file: they stay in that day's file (duplicates inside one file)
        if self.carried and self.held:
            name, table = self.held[-1]
            self.held[-1] = (name, pa.concat_tables([table, *self.carried]))
        self._write_held()
        self.held, self.carried = [], []

    def _write_held(self) -> None:
        for name, table in self.held:
            _write(self.out, name, table, self.progress)


def _event_chunk(
    rng: np.random.Generator,
    seed: int,
    offset: int,
    d: np.ndarray,
    s: np.ndarray,
    a: np.ndarray,
    acc: _Accounts,
    mem: _Members,
    cal: _Calendar,
    models: int = len(MODELS),
) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """One chunk of events for the given (day, segment, account) per row, sorted by time."""
    n = len(a)
    user = np.searchsorted(mem.keys, a + rng.random(n), side="right")
    user = np.clip(user, mem.start[a], mem.end[a] - 1)  # float rounding at the account's upper edge
    u = rng.random(n)
    service = (u >= mem.service_cum[user, 0]).astype(np.int64) + (u >= mem.service_cum[user, 1])
    shares = (
        MODEL_SHARES if models == len(MODELS) else MODEL_SHARES[:, :models] / MODEL_SHARES[:, :models].sum(1)[:, None]
    )
    model_cum = np.cumsum(shares, axis=1)[:, :-1]
    model = (rng.random(n)[:, None] >= model_cum[service]).sum(axis=1)
    tokens = rng.lognormal(np.log(TOKEN_MEDIAN[service]), TOKEN_SIGMA[service])
    tokens = np.clip(np.rint(tokens), 1, TOKEN_MAX).astype(np.int64)
    share = rng.uniform(INPUT_SHARE[service, 0], INPUT_SHARE[service, 1])
    input_tokens = np.floor(tokens * share).astype(np.int64)
    output_tokens = tokens - input_tokens

    f_lo, f_hi = cal.seg_f[d, s, 0], cal.seg_f[d, s, 1]
    seconds = _hour_inverse(f_lo + rng.random(n) * (f_hi - f_lo))
    at = cal.day_start[d] + np.floor(seconds * US).astype(np.int64)
    at = np.clip(at, cal.seg_lo[d, s], cal.seg_hi[d, s] - 1)

    order = np.argsort(at, kind="stable")
    at, a, user, service, model, d = at[order], a[order], user[order], service[order], model[order], d[order]
    tokens, input_tokens, output_tokens = tokens[order], input_tokens[order], output_tokens[order]
    numbers = pa.array(np.arange(offset + 1, offset + n + 1, dtype=np.int64))
    table = pa.Table.from_arrays(
        [
            pc.binary_join_element_wise(f"evt-{seed}-", pc.cast(numbers, STRING), ""),
            pa.array(acc.ids).take(pa.array(a)),
            pa.array(mem.ids).take(pa.array(user)),
            pa.array(SERVICES).take(pa.array(service)),
            pa.array(at, TIMESTAMP),
            pa.array(tokens),
            pa.array(input_tokens),
            pa.array(output_tokens),
            pa.array(MODELS).take(pa.array(model)),
        ],
        schema=EVENTS_SCHEMA,
    )
    return table, {"key": user * cal.days + d, "tokens": tokens, "at": at, "service": service}


def _merge(usage: _Usage, agg: dict[str, np.ndarray]) -> None:
    """Add one chunk's events to the per (member, day) aggregates."""
    key, size = agg["key"], len(usage.tokens)
    # float64 sums of integers are exact below 2**53, far above a chunk's tokens
    usage.tokens += np.rint(np.bincount(key, weights=agg["tokens"], minlength=size)).astype(np.int64)
    usage.calls += np.bincount(key, minlength=size)
    np.maximum.at(usage.last_us, key, agg["at"])
    np.bitwise_or.at(usage.services, key, 1 << agg["service"])
    usage.events += len(key)
    lo, hi = int(agg["at"].min()), int(agg["at"].max())
    usage.first_us = lo if usage.first_us is None else min(usage.first_us, lo)
    usage.max_us = hi if usage.max_us is None else max(usage.max_us, hi)


# --- transactions ------------------------------------------------------------------------------------------------


def _nice_ceil(value: float) -> int:
    """The smallest 1-2-5 x 10^k at or above `value` (top-up packages)."""
    value = max(float(value), 1.0)
    power = 10 ** int(np.floor(np.log10(value)))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return int(step * power)
    return int(10 * power)


def _round_down(values: np.ndarray) -> np.ndarray:
    """Round positive integers down to two significant digits, at least 1."""
    values = np.maximum(np.asarray(values, dtype=np.int64), 1)
    unit = 10 ** np.maximum(np.floor(np.log10(values)).astype(np.int64) - 1, 0)
    return np.maximum(values // unit * unit, 1)


def _time_on_day(cal: _Calendar, day: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Local day `day` at `hours` after midnight; on today never later than now (scaled into [midnight, now])."""
    start = cal.day_start[day]
    at = start + (hours * HOUR_US).astype(np.int64)
    late = at > cal.now_us
    return np.where(late, start + ((cal.now_us - start) * (hours / 24)).astype(np.int64), at)


def _transactions(
    rng: np.random.Generator, seed: int, acc: _Accounts, mem: _Members, usage: _Usage, cal: _Calendar
) -> pa.Table:
    """The token ledger: BONUS, RECHARGE, CONSUME, REFUND, ADJUSTMENT, consistent with the usage written."""
    count = len(acc.ids)
    last = count - 1 if count > 2 else -1  # the overdrawn account
    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("account", "user", "type", "amount", "at", "method", "desc")}

    def add(
        account: ArrayLike,
        user: ArrayLike,
        kind: int,
        amount: ArrayLike,
        at: ArrayLike,
        method: ArrayLike,
        desc: ArrayLike,
    ) -> None:
        n = len(np.atleast_1d(amount))
        for key, value in zip(rows, (account, user, kind, amount, at, method, desc), strict=True):
            rows[key].append(np.broadcast_to(np.asarray(value, dtype=np.int64), (n,)))

    # CONSUME: one per (member, local day) with usage, at the member's last event that day.
    cell = np.flatnonzero(usage.calls)
    c_user, c_day = np.divmod(cell, cal.days)
    c_account, c_amount, c_at = mem.account[c_user], usage.tokens[cell], usage.last_us[cell]
    add(c_account, c_user, CONSUME, -c_amount, c_at, -1, usage.services[cell])
    flows = np.zeros((count, cal.days), dtype=np.int64)
    np.add.at(flows, (c_account, c_day), -c_amount)

    # REFUND: about 1% of consume entries, 2-20% of that day's usage, in office hours of the next day or two,
    # never before the usage it refunds nor after now. The overdrawn account gets none.
    picked = rng.random(len(cell)) < 0.01
    if not picked[c_account == 0].any() and (c_account == 0).any():
        picked[rng.choice(np.flatnonzero(c_account == 0))] = True
    picked &= c_account != last
    p_at, p_count = c_at[picked], int(picked.sum())
    r_day = np.minimum(c_day[picked] + rng.integers(1, 3, size=p_count), cal.days - 1)
    r_at = _time_on_day(cal, r_day, rng.uniform(9, 18, size=p_count))
    r_at = np.where(r_at <= p_at, p_at + (cal.now_us - p_at) // 2, r_at)
    r_amount = _round_down(c_amount[picked] * rng.uniform(0.02, 0.2, size=p_count))
    add(c_account[picked], c_user[picked], REFUND, r_amount, r_at, -1, DESC_REFUND)
    np.add.at(flows, (c_account[picked], _day_of(cal, r_at)), r_amount)

    # ADJUSTMENT: a few per account, positive or negative, sized to the account's usage.
    used = -flows.sum(axis=1)
    per_account = rng.poisson(1.0, size=count)
    per_account[0] = max(per_account[0], 1)
    a_account = np.repeat(np.arange(count), per_account)
    lo = np.minimum(acc.first_active[a_account], cal.days - 1)
    a_day = lo + (rng.random(len(a_account)) * (cal.days - lo)).astype(np.int64)
    a_at = _time_on_day(cal, a_day, rng.uniform(10, 18, size=len(a_account)))
    magnitude = _round_down(1000 + used[a_account] * rng.uniform(0.001, 0.01, size=len(a_account)))
    negative = (rng.random(len(a_account)) < 0.4) | (a_account == last)
    a_amount = np.where(negative, -magnitude, magnitude)
    add(a_account, -1, ADJUSTMENT, a_amount, a_at, -1, DESC_ADJUSTMENT)
    np.add.at(flows, (a_account, a_day), a_amount)

    # BONUS at sign-up; paid plans buy a first package right after.
    bonus = np.array([PLAN_BONUS[p] for p in acc.plans], dtype=np.int64)
    paid = np.array([p != "free" for p in acc.plans]) & (np.arange(count) != last)
    outflow = np.maximum(-flows, 0)
    first_month = np.array([outflow[a, acc.first_active[a] : acc.first_active[a] + 30].sum() for a in range(count)])
    initial = np.where(paid, [_nice_ceil(max(b, f)) for b, f in zip(bonus, first_month, strict=True)], 0)
    initial_at = acc.created_us + rng.integers(5 * 60 * US, 2 * HOUR_US, size=count)
    method_pref = rng.dirichlet([4.5, 3.5, 2.0], size=count)

    # RECHARGE whenever the balance would not cover the next week, with a package for the next cover_days.
    cover_days = rng.choice([10, 14, 21, 30], size=count)
    recharges: list[tuple[int, int, int]] = []  # (account, day, amount)
    for a in range(count):
        balance = int(bonus[a] + initial[a])
        cum = np.concatenate([[0], np.cumsum(outflow[a])])
        first = int(acc.first_active[a])
        stop = first + (cal.days - first) // 2 if a == last else cal.days
        mine: list[tuple[int, int, int]] = []
        for d in range(first, cal.days):
            need = 1.2 * (cum[min(d + 7, cal.days)] - cum[d])
            if d < stop and balance < need:
                lo_d, hi_d = max(first, d - 14), min(cal.days, d + 14)
                rate = (cum[hi_d] - cum[lo_d]) / max(hi_d - lo_d, 1)
                amount = _nice_ceil(max(need - balance, rate * cover_days[a]))
                mine.append((a, d, amount))
                balance += amount
            balance += int(flows[a, d])
        if a == last:  # overdrawn: drop the latest top-ups, then shrink the bonus, until the balance is negative
            while balance >= 0 and mine:
                balance -= mine.pop()[2]
            if balance >= 0:
                net_out = int(bonus[a]) - balance
                bonus[a] = max(1, net_out // 2)
                balance = int(bonus[a]) - net_out
        recharges.extend(mine)

    add(np.arange(count), -1, BONUS, bonus, acc.created_us, -1, DESC_BONUS)
    i_account = np.flatnonzero(initial)
    enterprise = np.array([acc.plans[a] == "enterprise" for a in i_account], dtype=bool)
    i_method = np.where(enterprise, 2, (rng.random(len(i_account)) < 0.5).astype(np.int64))
    i_desc = DESC_RECHARGE + i_method
    add(i_account, mem.start[i_account], RECHARGE, initial[i_account], initial_at[i_account], i_method, i_desc)
    if recharges:
        r = np.array(recharges, dtype=np.int64)
        r_account, r_day, r_amount = r[:, 0], r[:, 1], r[:, 2]
        u = rng.random(len(r))
        cum_pref = np.cumsum(method_pref[r_account], axis=1)
        method = (u[:, None] >= cum_pref[:, :2]).sum(axis=1)
        method = np.where((r_amount >= 50_000_000) & (rng.random(len(r)) < 0.6), 2, method)
        size = mem.end[r_account] - mem.start[r_account]
        payer = mem.start[r_account] + np.where(
            rng.random(len(r)) < 0.7, 0, (rng.random(len(r)) * np.minimum(size, 3)).astype(np.int64)
        )
        r_at = _time_on_day(cal, r_day, rng.uniform(7.5, 10, size=len(r)))
        add(r_account, payer, RECHARGE, r_amount, r_at, method, DESC_RECHARGE + method)

    return _ledger_table(seed, rows, acc, mem)


def _day_of(cal: _Calendar, at: np.ndarray) -> np.ndarray:
    """Local day index of each instant (clamped into the window)."""
    return np.clip(np.searchsorted(cal.day_start, at, side="right") - 1, 0, cal.days - 1)


def _ledger_table(seed: int, rows: dict[str, list[np.ndarray]], acc: _Accounts, mem: _Members) -> pa.Table:
    """Sort the ledger by time (then type, account, member), number it and build the arrow table."""
    col = {k: np.concatenate(v) if v else np.zeros(0, dtype=np.int64) for k, v in rows.items()}
    order = np.lexsort((col["user"], col["account"], col["type"], col["at"]))
    col = {k: v[order] for k, v in col.items()}
    kind, user, method = col["type"], col["user"], col["method"]
    numbers = pa.array(np.arange(1, len(kind) + 1, dtype=np.int64))
    return pa.Table.from_arrays(
        [
            pc.binary_join_element_wise(f"txn-{seed}-", pc.cast(numbers, STRING), ""),
            pa.array(acc.ids).take(pa.array(col["account"])),
            pa.array(mem.ids).take(pa.array(user, mask=user < 0)),
            pa.array(TXN_TYPES).take(pa.array(kind)),
            pa.array(col["amount"]),
            pa.array(col["at"], TIMESTAMP),
            pa.array(PAYMENT_METHODS).take(pa.array(method, mask=method < 0)),
            pa.array(DESCRIPTIONS).take(pa.array(col["desc"])),
        ],
        schema=TRANSACTIONS_SCHEMA,
    )


# --- files -------------------------------------------------------------------------------------------------------


def _reset(out: Path) -> None:
    """Remove the four export folders (and nothing else) so a rerun leaves no stale parts."""
    out.mkdir(parents=True, exist_ok=True)
    for name in FOLDERS:
        if (out / name).exists():
            shutil.rmtree(out / name)


def _write(out: Path, name: str, table: pa.Table, progress: Callable[[str], None] | None) -> Path:
    """Write one parquet file under `out` and report it."""
    path = out / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    if progress is not None:
        progress(f"wrote {name} ({table.num_rows:,} rows)")
    return path


def _month_labels(column: pa.ChunkedArray) -> np.ndarray:
    """UTC "YYYY-MM" of each timestamp."""
    us = column.cast(INT).to_numpy()
    return us.astype("datetime64[us]").astype("datetime64[M]").astype(str)
