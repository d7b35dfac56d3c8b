"""What the dashboard reads: MongoDB's aggregate collections, single
products and rejects by key, and the services' /metrics.

Charts come from `price_buckets` and `category_stats` only (a few hundred
documents whatever the number of products), so the page opens as fast at
1.4 M products as at 3,000. Products and rejects are read one at a time,
by `_id` or through the `category_id` index.
"""

from __future__ import annotations

import os
import re
import urllib.request
from dataclasses import dataclass

import pandas as pd
import pymongo
from pymongo.errors import PyMongoError


@dataclass(frozen=True)
class Settings:
    """Connection settings, from the same variables as every shelf command."""

    mongo: str
    database: str
    gateway: str
    runtime_metrics: str
    sink_metrics: str
    refresh_seconds: float

    @classmethod
    def from_env(cls) -> "Settings":
        env = os.environ.get
        return cls(
            mongo=env("SHELF_MONGO", "mongodb://127.0.0.1:27017/"),
            database=env("SHELF_DB", "shelfstream"),
            gateway=env("SHELF_INGEST_LISTEN", "127.0.0.1:8080").replace("0.0.0.0:", "127.0.0.1:"),
            runtime_metrics=env("SHELF_TRANSFORM_METRICS_LISTEN", "127.0.0.1:9101"),
            sink_metrics=env("SHELF_SINK_METRICS_LISTEN", "127.0.0.1:9102"),
            refresh_seconds=float(env("SHELF_DASHBOARD_REFRESH_S", "3")),
        )


class StoreDown(Exception):
    """MongoDB did not answer; the page says so and tries again."""


def price_order(label: str) -> float:
    """Buckets in price order: "0-5" < "5-10" < … < "300+" < "unpriced"."""
    match = re.match(r"^(\d+(?:\.\d+)?)", label)
    return float(match.group(1)) if match else float("inf")


def complete_buckets(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Every bucket from 0 up to the highest seen, in price order, the empty
    ones as 0 (a histogram that skipped them would misdraw its shape). The
    width W and the cap C are the transform's deploy parameters, read off
    the labels: `"{lo}-{lo+W}"`, `"{C}+"` and `"unpriced"`."""
    ranges = []
    for label in counts:
        match = re.fullmatch(r"(\d+)-(\d+)", label)
        if match:
            ranges.append((int(match.group(1)), int(match.group(2))))
    labels = set(counts)
    if ranges:
        width = min(hi - lo for lo, hi in ranges) or 1
        top = max(hi for _, hi in ranges)
        capped = [int(label[:-1]) for label in counts if re.fullmatch(r"\d+\+", label)]
        if capped:
            top = capped[0]
        labels |= {f"{lo}-{lo + width}" for lo in range(0, top, width)}
    ordered = sorted(labels, key=lambda label: (price_order(label), label))
    return [(label, int(counts.get(label, 0))) for label in ordered]


def money(x: float | None) -> str:
    return "–" if x is None else f"${x:,.2f}"


def percent(x: float | None) -> str:
    return "–" if x is None else f"{x:+.1f} %"


LEVELS = ["under $10", "$10–25", "$25–50", "$50–100", "$100–300", "$300 and more", "unpriced"]


def price_level(label: str) -> str:
    """A bucket label's coarse price level (the catalogue's mix)."""
    lo = price_order(label)
    if lo == float("inf"):
        return LEVELS[-1]
    for bound, level in zip([10, 25, 50, 100, 300], LEVELS):
        if lo < bound:
            return level
    return LEVELS[-2]


class Store:
    def __init__(self, settings: Settings):
        self.settings = settings
        # A store that is down shows as such within seconds; one that is up
        # gets a minute for a drill-down into a big category on FerretDB
        # (which reads each of its products; MongoDB reads ten by index).
        self.client = pymongo.MongoClient(
            settings.mongo,
            serverSelectionTimeoutMS=2000,
            connectTimeoutMS=2000,
            socketTimeoutMS=60000,
        )
        self.db = self.client[settings.database]

    def _read(self, what):
        try:
            return what()
        except PyMongoError as error:
            # The driver's message ends in its whole topology description.
            reason = str(error).split(" (configured timeouts")[0].split(", Timeout:")[0]
            raise StoreDown(f"MongoDB at {self.settings.mongo} is not answering: {reason[:160]}") from error

    def renames_pending(self) -> int:
        """Products the sinks are still renaming (their category's name came
        after them), at most: the sum over the partitions' rename sweeps in
        `sink_partials`, so every sink instance counts."""
        docs = self._read(
            lambda: list(self.db.sink_partials.find({"rename_after": {"$type": "string"}}, {"rename_pending": 1}))
        )
        return sum(int(d.get("rename_pending") or 0) for d in docs)

    def price_buckets(self) -> pd.DataFrame:
        """Products per bucket, every bucket in price order (empty ones as 0)."""
        docs = self._read(lambda: list(self.db.price_buckets.find({})))
        counts = {d["_id"]: int(d.get("products", 0)) for d in docs}
        return pd.DataFrame(complete_buckets(counts), columns=["bucket", "products"])

    def categories(self) -> pd.DataFrame:
        docs = self._read(lambda: list(self.db.category_stats.find({}, {"buckets": 0})))
        rows = [
            {
                "category_id": d["_id"],
                "category": d.get("category_name") or f"category {d['_id']}",
                "products": int(d.get("products", 0)),
                "avg_price": d.get("avg_price"),
                "bestsellers": int(d.get("bestsellers", 0)),
                "avg_stars": d.get("avg_stars"),
                "bought_last_month": int(d.get("bought_last_month", 0)),
            }
            for d in docs
        ]
        columns = [
            "category_id",
            "category",
            "products",
            "avg_price",
            "bestsellers",
            "avg_stars",
            "bought_last_month",
        ]
        frame = pd.DataFrame(rows, columns=columns)
        return frame.sort_values("products", ascending=False).reset_index(drop=True)

    def category(self, category_id: int) -> dict | None:
        return self._read(lambda: self.db.category_stats.find_one({"_id": category_id}))

    def top_products(self, category_id: int, limit: int = 10) -> list[dict]:
        # Through the category_id index the sink creates; FerretDB sorts the
        # category's products in memory, a few thousand at most.
        cursor = (
            self.db.products.find(
                {"category_id": category_id},
                {"title": 1, "price": 1, "stars": 1, "boughtInLastMonth": 1},
            )
            .sort([("boughtInLastMonth", -1), ("_id", 1)])
            .limit(limit)
        )
        return self._read(lambda: list(cursor))

    def category_rejects(self, category_id: int, limit: int = 20) -> list[dict]:
        # A reject keeps its input record as JSON text (it may not parse as
        # anything else), so it is found by that text.
        query = {"payload": {"$regex": f'"category_id":{category_id}[,}}]'}}
        return self._read(lambda: list(self.db.rejects.find(query).limit(limit)))

    def product(self, asin: str) -> dict | None:
        return self._read(lambda: self.db.products.find_one({"_id": asin}))

    def reject_of(self, asin: str) -> dict | None:
        """The reject of a record with this asin, when one was rejected."""
        query = {"payload": {"$regex": f'"asin":"{re.escape(asin)}"'}}
        return self._read(lambda: self.db.rejects.find_one(query))

    # Trends: `category_daily` (a document per category and day) and
    # `price_changes` (indexed on `day` and `asin`).

    def days(self) -> list[str]:
        """The days with daily figures, oldest first."""
        return sorted(self._read(lambda: self.db.category_daily.distinct("day")))

    def daily_prices(self, category_ids: list[int]) -> pd.DataFrame:
        """Average price per day of each of these categories."""
        docs = self._read(
            lambda: list(
                self.db.category_daily.find(
                    {"category_id": {"$in": category_ids}},
                    {"day": 1, "category_id": 1, "category_name": 1, "avg_price": 1},
                )
            )
        )
        rows = [
            {
                "day": d["day"],
                "category": d.get("category_name") or f"category {d['category_id']}",
                "avg_price": d.get("avg_price"),
            }
            for d in docs
        ]
        frame = pd.DataFrame(rows, columns=["day", "category", "avg_price"])
        return frame.sort_values(["category", "day"]).reset_index(drop=True)

    def price_mix(self) -> pd.DataFrame:
        """Products per price level and day, over every category."""
        docs = self._read(lambda: list(self.db.category_daily.find({}, {"day": 1, "buckets": 1})))
        counts: dict[tuple[str, str], int] = {}
        for d in docs:
            for label, n in (d.get("buckets") or {}).items():
                key = (d["day"], price_level(label))
                counts[key] = counts.get(key, 0) + int(n)
        rows = [{"day": day, "level": level, "products": n} for (day, level), n in counts.items()]
        frame = pd.DataFrame(rows, columns=["day", "level", "products"])
        return frame.sort_values(["day", "level"]).reset_index(drop=True)

    def movers(self, day: str, limit: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The day's biggest drops and rises: through the `day` index."""
        names = self._read(lambda: {d["_id"]: d.get("name") for d in self.db.categories.find({})})

        def frame(direction: int) -> pd.DataFrame:
            query = {"day": day, "change_pct": {"$lt": 0} if direction > 0 else {"$gt": 0}}
            cursor = self.db.price_changes.find(query).sort([("change_pct", direction), ("_id", 1)]).limit(limit)
            rows = [
                {
                    "product": d["asin"],
                    "category": names.get(d.get("category_id")) or f"category {d.get('category_id')}",
                    "old price": money(d.get("prev_price")),
                    "new price": money(d.get("price")),
                    "change %": percent(d.get("change_pct")),
                }
                for d in self._read(lambda: list(cursor))
            ]
            return pd.DataFrame(rows, columns=["product", "category", "old price", "new price", "change %"])

        return frame(1), frame(-1)

    def price_history(self, asin: str) -> pd.DataFrame:
        """A product's price changes, oldest first, through the `asin` index."""
        docs = self._read(lambda: list(self.db.price_changes.find({"asin": asin}).sort("observed_at", 1)))
        rows = [
            {
                "day": d.get("day"),
                "old price": money(d.get("prev_price")),
                "new price": money(d.get("price")),
                "old list price": money(d.get("prev_listPrice")),
                "new list price": money(d.get("listPrice")),
                "change %": percent(d.get("change_pct")),
            }
            for d in docs
        ]
        return pd.DataFrame(
            rows, columns=["day", "old price", "new price", "old list price", "new list price", "change %"]
        )

    def rejects_by_reason(self) -> pd.DataFrame:
        counts: dict[tuple[str, str], int] = {}
        examples: dict[tuple[str, str], str] = {}
        docs = self._read(
            lambda: list(self.db.rejects.find({}, {"stage": 1, "reason": 1, "origin": 1}))
        )
        for d in docs:
            key = (d.get("stage", "?"), d.get("reason", "?"))
            counts[key] = counts.get(key, 0) + 1
            if key not in examples:
                origin = d.get("origin") or {}
                examples[key] = (
                    f"{origin.get('file')}:{origin.get('line')}" if origin.get("file") else str(d["_id"])
                )
        rows = [
            {"stage": s, "reason": r, "rejects": n, "example": examples[(s, r)]}
            for (s, r), n in counts.items()
        ]
        frame = pd.DataFrame(rows, columns=["stage", "reason", "rejects", "example"])
        return frame.sort_values(["rejects", "stage", "reason"], ascending=[False, True, True]).reset_index(
            drop=True
        )


def metrics(address: str, timeout: float = 1.0) -> dict[str, float] | None:
    """A service's /metrics as {series: value}; None when it is not reachable."""
    try:
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=timeout) as reply:
            text = reply.read().decode()
    except OSError:
        return None
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        try:
            out[name] = float(value)
        except ValueError:
            continue
    return out


def total(series: dict[str, float], prefix: str) -> float:
    """The sum of every series whose name starts with `prefix`."""
    return sum(v for k, v in series.items() if k.startswith(prefix))


@dataclass(frozen=True)
class Stage:
    """One stage as `shelf status` shows it (cli/src/status.rs reads the
    same metrics the same way)."""

    name: str
    up: bool
    lag: float | None


# Each stage's /metrics address setting and lag gauge (the gateway has none).
STAGES = [
    ("gateway", "gateway", None),
    ("runtime", "runtime_metrics", "shelf_transform_lag"),
    ("sink", "sink_metrics", "shelf_sink_lag"),
]


def pipeline(settings: Settings) -> list[Stage]:
    """Every stage: up or down, and its lag in records (0 when drained)."""
    stages = []
    for name, address, lag in STAGES:
        series = metrics(getattr(settings, address))
        if series is None:
            stages.append(Stage(name, False, None))
        else:
            stages.append(Stage(name, True, None if lag is None else total(series, lag)))
    return stages
