"""Token prices and plans from `config/prices.yaml` (ANALYTICS_PRICES_FILE).

Money is written in the file in major units (yuan) and held here in integer cents,
converted through Decimal so 0.1 stays exactly 0.1. A wrong file raises PricesError
with one line naming the file and the problem.

A plan's texts may carry translations beside them: `name_zh` for `name`, `features_zh` for
`features` (as many items, in the same order); the language code is the suffix. The pages ask
`Plan.name_in(lang)` / `Plan.features_in(lang)`, which fall back to the untranslated text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from token_analytics.engine import vocabulary

PLAN_IDS = tuple(vocabulary.Plan)  # the plan ids; `Plan` below is a priced plan of the prices file
TRANSLATED = re.compile(r"^(name|features)_([a-z]{2})$")  # name_zh, features_zh


class PricesError(ValueError):
    """The prices file is wrong; the message is one line naming the problem."""


@dataclass(frozen=True)
class Package:
    tokens: int
    price_cents: int


@dataclass(frozen=True)
class CustomRule:
    """Any amount that is a multiple of `step_tokens` in [min_tokens, max_tokens]."""

    price_per_1k: Decimal  # major units per 1,000 tokens
    min_tokens: int
    max_tokens: int
    step_tokens: int


@dataclass(frozen=True)
class Plan:
    plan_id: str
    name: str
    monthly_price_cents: int | None  # None: "contact us"
    included_tokens: int | None  # per month; None: set by contract
    features: tuple[str, ...]
    contact_only: bool
    names: tuple[tuple[str, str], ...] = ()  # (language, name) translations
    features_by_language: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def name_in(self, lang: str) -> str:
        """The plan's name in `lang`, else the file's `name`."""
        return dict(self.names).get(lang, self.name)

    def features_in(self, lang: str) -> tuple[str, ...]:
        """The plan's features in `lang`, else the file's `features`."""
        return dict(self.features_by_language).get(lang, self.features)


@dataclass(frozen=True)
class Prices:
    currency: str
    currency_symbol: str
    packages: tuple[Package, ...]
    custom: CustomRule
    plans: tuple[Plan, ...]

    def price_for(self, tokens: int) -> int:
        """Price in cents: the package's price for a package amount, else the custom rule."""
        for package in self.packages:
            if package.tokens == tokens:
                return package.price_cents
        rule = self.custom
        if (
            isinstance(tokens, bool)
            or not isinstance(tokens, int)
            or not rule.min_tokens <= tokens <= rule.max_tokens
            or tokens % rule.step_tokens
        ):
            raise ValueError(
                f"A custom amount must be {rule.min_tokens:,} to {rule.max_tokens:,} tokens "
                f"in steps of {rule.step_tokens:,}, got {tokens!r}."
            )
        cents = Decimal(tokens) / 1000 * rule.price_per_1k * 100
        return int(cents.quantize(Decimal(1), rounding=ROUND_HALF_UP))

    def plan(self, plan_id: str) -> Plan:
        """The plan with this id (KeyError when unknown)."""
        for plan in self.plans:
            if plan.plan_id == plan_id:
                return plan
        raise KeyError(plan_id)

    def format_price(self, cents: int) -> str:
        """`¥10.00` style text for an amount in cents."""
        sign = "-" if cents < 0 else ""
        return f"{sign}{self.currency_symbol}{abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def load_prices(path: Path | str) -> Prices:
    """Read and validate the prices file; raise PricesError with one line on any problem."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PricesError(f"{path}: the prices file does not exist; set ANALYTICS_PRICES_FILE.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PricesError(f"{path}: cannot read the prices file ({type(exc).__name__}).") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise PricesError(f"{path}: not valid YAML{where}.") from None
    try:
        return parse_prices(data)
    except PricesError as exc:
        raise PricesError(f"{path}: {exc}") from None


def parse_prices(data: object) -> Prices:
    """Validate the parsed YAML document and build Prices."""
    top = _mapping(data, "the file")
    currency = _text(top.get("currency"), "currency")
    raw_symbol = top.get("currency_symbol")
    symbol = currency + " " if raw_symbol is None else _text(raw_symbol, "currency_symbol")

    raw_packages = top.get("packages")
    if not isinstance(raw_packages, list) or not raw_packages:
        raise PricesError("packages must be a non-empty list.")
    packages: list[Package] = []
    for index, raw in enumerate(raw_packages):
        item = _mapping(raw, f"packages[{index}]")
        package = Package(
            tokens=_whole(item.get("tokens"), f"packages[{index}].tokens", minimum=1),
            price_cents=_cents(item.get("price"), f"packages[{index}].price"),
        )
        if any(p.tokens == package.tokens for p in packages):
            raise PricesError(f"packages[{index}].tokens {package.tokens} appears twice.")
        packages.append(package)

    raw_custom = _mapping(top.get("custom"), "custom")
    custom = CustomRule(
        price_per_1k=_amount(raw_custom.get("price_per_1k"), "custom.price_per_1k", places=4),
        min_tokens=_whole(raw_custom.get("min_tokens"), "custom.min_tokens", minimum=1),
        max_tokens=_whole(raw_custom.get("max_tokens"), "custom.max_tokens", minimum=1),
        step_tokens=_whole(raw_custom.get("step_tokens", 1), "custom.step_tokens", minimum=1),
    )
    if custom.price_per_1k <= 0:
        raise PricesError("custom.price_per_1k must be greater than 0.")
    if custom.min_tokens > custom.max_tokens:
        raise PricesError("custom.min_tokens must not exceed custom.max_tokens.")

    raw_plans = top.get("plans")
    if not isinstance(raw_plans, list):
        raise PricesError("plans must be a list of free, pro and enterprise.")
    plans: list[Plan] = []
    for index, raw in enumerate(raw_plans):
        plans.append(_plan(_mapping(raw, f"plans[{index}]"), index))
    ids = [plan.plan_id for plan in plans]
    for plan_id in ids:
        if ids.count(plan_id) > 1:
            raise PricesError(f"plan {plan_id!r} appears twice.")
    missing = [plan_id for plan_id in PLAN_IDS if plan_id not in ids]
    if missing:
        raise PricesError(f"plans must include {', '.join(missing)}.")
    plans.sort(key=lambda plan: PLAN_IDS.index(plan.plan_id))
    return Prices(
        currency=currency,
        currency_symbol=symbol,
        packages=tuple(sorted(packages, key=lambda p: p.tokens)),
        custom=custom,
        plans=tuple(plans),
    )


def _plan(item: dict[str, Any], index: int) -> Plan:
    where = f"plans[{index}]"
    plan_id = item.get("id")
    if plan_id not in PLAN_IDS:
        raise PricesError(f"{where}.id must be one of {', '.join(PLAN_IDS)}, got {plan_id!r}.")
    contact_only = item.get("contact", False)
    if not isinstance(contact_only, bool):
        raise PricesError(f"{where}.contact must be true or false.")
    raw_price = item.get("monthly_price")
    if raw_price is None and not contact_only:
        raise PricesError(f"{where}.monthly_price is required unless contact is true.")
    raw_included = item.get("included_tokens")
    features = _texts(item.get("features", []), f"{where}.features")
    names: list[tuple[str, str]] = []
    translated: list[tuple[str, tuple[str, ...]]] = []
    for key in sorted(item):
        match = TRANSLATED.match(str(key))
        if not match:
            continue
        if match[1] == "name":
            names.append((match[2], _text(item[key], f"{where}.{key}")))
            continue
        texts = _texts(item[key], f"{where}.{key}")
        if len(texts) != len(features):  # a translation that drops a feature would hide it from its readers
            raise PricesError(f"{where}.{key} must have as many items as {where}.features ({len(features)}).")
        translated.append((match[2], texts))
    return Plan(
        plan_id=plan_id,
        name=_text(item.get("name"), f"{where}.name"),
        monthly_price_cents=None if raw_price is None else _cents(raw_price, f"{where}.monthly_price"),
        included_tokens=None if raw_included is None else _whole(raw_included, f"{where}.included_tokens", 0),
        features=features,
        contact_only=contact_only,
        names=tuple(names),
        features_by_language=tuple(translated),
    )


def _texts(value: object, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(f, str) and f.strip() for f in value):
        raise PricesError(f"{name} must be a list of texts.")
    return tuple(f.strip() for f in value)


def _mapping(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PricesError(f"{name} must be a mapping of keys to values.")
    return value


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PricesError(f"{name} must be a non-empty text.")
    return value.strip()


def _whole(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PricesError(f"{name} must be a whole number >= {minimum}, got {value!r}.")
    return value


def _amount(value: object, name: str, places: int) -> Decimal:
    # str() first: Decimal(0.1) would carry the float's binary error into the price.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PricesError(f"{name} must be a number, got {value!r}.")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise PricesError(f"{name} must be a number, got {value!r}.") from None
    if not amount.is_finite() or amount < 0:
        raise PricesError(f"{name} must be a number >= 0, got {value!r}.")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise PricesError(f"{name} has more than {places} decimals: {value!r}.")
    return amount


def _cents(value: object, name: str) -> int:
    return int(_amount(value, name, places=2) * 100)
