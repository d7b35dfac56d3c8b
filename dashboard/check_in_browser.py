"""Drives the dashboard in headless Chromium and checks what it shows
against MongoDB: every figure read off the page is compared with the same
figure read from the store.

Usage (tests/tests/dashboard.rs runs it):
    python dashboard/check_in_browser.py --url http://127.0.0.1:8501 \\
        --shots target/dashboard-shots [--wait-for-more]

With --wait-for-more, after the first checks it prints `READY` and waits
for a line on stdin (the test streams more products meanwhile), then checks
that the open page shows the new figures without being reloaded. Then it
prints `STOP-STORE` and waits for a line (the test stops FerretDB), checks
that the page says the store is not answering, prints `START-STORE`, waits
for a line (the test starts it again) and checks that the page recovers.

Debian's chromium and chromium-driver (infra/setup.sh); no browser download.
Exit status 0 when every check passed; the first failure says what differed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pymongo
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

sys.path.insert(0, str(Path(__file__).parent))
from store import complete_buckets, price_order  # noqa: E402  (the page's own rule)

WAIT = 60.0


class Failed(Exception):
    pass


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("SHELF_CHROMIUM", "/usr/bin/chromium")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--window-size=1400,1800",
    ):
        options.add_argument(flag)
    service = Service(os.environ.get("SHELF_CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(options=options, service=service)


def until(what: str, check, within: float = WAIT):
    """Retries `check` until it returns something truthy; fails naming `what`."""
    deadline = time.monotonic() + within
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as error:  # the page is re-rendering: try again
            last = error
        time.sleep(0.3)
    raise Failed(f"{what} (within {within:.0f} s; last error: {last})")


def text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").get_attribute("innerText")


def metric(driver, label: str) -> str:
    """The value shown by the st.metric with this label."""
    for element in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]'):
        lines = [l for l in element.get_attribute("innerText").splitlines() if l.strip()]
        if lines and lines[0].strip() == label and len(lines) > 1:
            return lines[1].strip()
    raise Failed(f"no metric `{label}` on the page")


def tab(driver, name: str) -> None:
    for button in driver.find_elements(By.CSS_SELECTOR, '[role="tab"]'):
        if button.get_attribute("innerText").strip() == name:
            if button.get_attribute("aria-selected") != "true":
                # Scrolled down, the page's own header covers the tabs.
                driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
                button.click()
            return
    raise Failed(f"no tab `{name}`")


def type_into(driver, label: str, value: str) -> None:
    field = until(
        f"a text input labelled `{label}`",
        lambda: driver.find_element(By.CSS_SELECTOR, f'input[aria-label="{label}"]'),
    )
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    field.send_keys(value, Keys.ENTER)


def table_rows(driver, heading: str) -> dict[str, list[str]]:
    """The rows of the first `st.table` whose header row starts with `heading`, by first cell.

    Only `st.table`s: an `st.dataframe` draws on a canvas but also keeps an
    accessible `<table role="grid">` in the page, which the categories'
    grid (headed `id`, `category`) once matched, its first cells the ids."""
    for table in driver.find_elements(By.CSS_SELECTOR, 'table[data-testid="stTableStyledTable"]'):
        head = [th.get_attribute("textContent").strip() for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
        if not head or heading not in head[:2]:
            continue
        rows = {}
        for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr"):
            cells = [c.get_attribute("textContent").strip() for c in tr.find_elements(By.CSS_SELECTOR, "th, td")]
            if cells:
                rows[cells[0]] = cells[1:]
        return rows
    raise Failed(f"no table headed `{heading}`")


def number(cell: str) -> float:
    return float(cell.replace(",", "").replace("$", "").replace("%", "").strip())


def shot(driver, shots: Path, name: str) -> None:
    shots.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(shots / f"{name}.png"))


class Check:
    def __init__(self, url: str, shots: Path):
        self.url = url
        self.shots = shots
        client = pymongo.MongoClient(os.environ.get("SHELF_MONGO", "mongodb://127.0.0.1:27017/"))
        self.db = client[os.environ.get("SHELF_DB", "shelfstream")]
        self.driver = browser()

    def stored(self) -> int:
        return sum(int(d["products"]) for d in self.db.price_buckets.find({}))

    def first_render(self) -> float:
        started = time.monotonic()
        self.driver.get(self.url)
        until("the header's products stored", lambda: metric(self.driver, "products stored"))
        return time.monotonic() - started

    def header(self) -> None:
        want = f"{self.stored():,}"
        until(
            f"products stored = {want}",
            lambda: metric(self.driver, "products stored") == want,
        )
        products = self.db.command({"count": "products"})["n"]
        if f"{products:,}" != want:
            raise Failed(f"price_buckets count {want} products, the collection holds {products}")

    def at_rest(self) -> None:
        """Everything streamed is stored: nothing waits, though each topic
        ends in transaction markers (once counted as lag)."""
        until(
            "waiting to be stored = 0 and the pipeline up to date, at rest",
            lambda: metric(self.driver, "waiting to be stored") == "0"
            and metric(self.driver, "pipeline") == "up to date",
        )
        shot(self.driver, self.shots, "header-at-rest")

    def renaming(self) -> None:
        """The header says while products are being renamed. A sweep of the
        real sink lasts only while it runs, so this puts one in the store as
        the sink would record it (under a partition no sink owns, which no
        sink reads), then takes it away."""
        sweep = {"_id": "p-dashboard-check", "partition": -1, "seq": 0, "partials": "[]"}
        self.db.sink_partials.insert_one({**sweep, "rename_after": "", "rename_pending": 1234})
        try:
            until("the header's 'renaming 1,234 products'", lambda: "renaming 1,234 products" in text(self.driver))
            shot(self.driver, self.shots, "renaming")
        finally:
            self.db.sink_partials.delete_one({"_id": sweep["_id"]})
        until("the renaming line gone", lambda: "renaming" not in text(self.driver))

    def price_levels(self, name: str = "price-levels") -> None:
        """Every bucket in price order, empty ones as 0, as the store counts."""
        tab(self.driver, "Price levels")
        stored = {d["_id"]: int(d["products"]) for d in self.db.price_buckets.find({})}
        want = complete_buckets(stored)
        if [b for b, _ in want] != sorted((b for b, _ in want), key=price_order):
            raise Failed(f"the expected buckets are not in price order: {want}")
        if sum(1 for _, n in want if n == 0) == 0:
            print("note: no empty bucket between the stored ones", flush=True)

        def shown():
            rows = table_rows(self.driver, "bucket")
            return [(k, int(number(v[0]))) for k, v in rows.items()] == want

        until(f"the price levels table, in price order = {want}", shown)
        shot(self.driver, self.shots, name)

    def categories(self) -> None:
        tab(self.driver, "Categories")
        # As the page names them: a category whose name has not arrived by
        # its id.
        stats = {d.get("category_name") or f"category {d['_id']}": d for d in self.db.category_stats.find({})}
        # The top categories' figures under the charts.
        rows = until("the categories' figures table", lambda: table_rows(self.driver, "category"))
        for name, cells in rows.items():
            d = stats.get(name)
            if d is None:
                raise Failed(f"the page shows category `{name}`, which category_stats lacks")
            if int(number(cells[0])) != d["products"]:
                raise Failed(f"`{name}`: {cells[0]} products shown, {d['products']} stored")
            if d.get("avg_price") is not None and abs(number(cells[1]) - d["avg_price"]) > 0.01:
                raise Failed(f"`{name}`: average price {cells[1]} shown, {d['avg_price']} stored")
            if int(number(cells[2])) != d["bestsellers"]:
                raise Failed(f"`{name}`: {cells[2]} best sellers shown, {d['bestsellers']} stored")
        name, biggest = max(stats.items(), key=lambda item: item[1]["products"])
        if name not in rows:
            raise Failed(f"the biggest category `{name}` is not among the shown")
        shot(self.driver, self.shots, "categories")
        # Search narrows the list to matching categories.
        type_into(self.driver, "search categories", name)
        matching = sum(1 for n in stats if name.lower() in n.lower())
        until(
            f"`{matching} of {len(stats)} categories` after searching `{name}`",
            lambda: f"{matching} of {len(stats)} categories" in text(self.driver),
        )
        type_into(self.driver, "search categories", "")

    def trends(self) -> None:
        tab(self.driver, "Trends")
        days = sorted(self.db.category_daily.distinct("day"))
        if len(days) < 2:
            raise Failed(f"category_daily holds days {days}; the test streams two")
        until(
            "the average price per day over every stored day",
            lambda: f"Average price per day ({days[0]} to {days[-1]})" in text(self.driver),
        )
        until("the price-level mix", lambda: "mix of price levels" in text(self.driver))
        latest = days[-1]
        drops = list(
            self.db.price_changes.find({"day": latest, "change_pct": {"$lt": 0}})
            .sort([("change_pct", 1), ("_id", 1)])
            .limit(10)
        )
        if not drops:
            raise Failed(f"no price drops stored on {latest}")
        want = [d["asin"] for d in drops]

        def shown():
            rows = table_rows(self.driver, "product")
            if list(rows) != want:
                return False
            first = rows[want[0]]
            return abs(number(first[1]) - drops[0]["prev_price"]) < 0.01 and abs(
                number(first[2]) - drops[0]["price"]
            ) < 0.01

        until(f"the biggest drops of {latest} = {want}, with old and new prices", shown)
        shot(self.driver, self.shots, "trends")

    def price_history(self) -> None:
        """A product's price history, from the look-up (typed in lower case)."""
        change = self.db.price_changes.find_one({})
        asin = change["asin"]
        n = self.db.price_changes.count_documents({"asin": asin})
        tab(self.driver, "Look-ups")
        type_into(self.driver, "asin", asin.lower())
        until(
            f"{asin}'s price history ({n} change(s)) after typing it in lower case",
            lambda: f"{asin} is stored" in text(self.driver) and f"price history: {n} change(s)" in text(self.driver),
        )
        shot(self.driver, self.shots, "price-history")

    def drill_down(self) -> None:
        """By typed name: the median category (a typical drill-down at any
        size; FerretDB reads every product of the category for its top ten)."""
        tab(self.driver, "Categories")
        ranked = sorted(self.db.category_stats.find({}), key=lambda d: (d["products"], d["_id"]))
        d = ranked[len(ranked) // 2]
        type_into(self.driver, "category name or number", d["category_name"].upper())
        self.shows_category(d, "category-drill-down")

    def click_drill_down(self) -> None:
        """A click on the first row of the categories table (the biggest)."""
        tab(self.driver, "Categories")
        type_into(self.driver, "search categories", "")
        biggest = max(self.db.category_stats.find({}), key=lambda d: (d["products"], -d["_id"]))
        grid = until(
            "the categories table",
            lambda: self.driver.find_element(By.CSS_SELECTOR, '[data-testid="stDataFrame"] canvas'),
        )
        # Selenium offsets are from the element's centre; the row marker
        # (the selection box) is the first 30 px, a row 35 px under a
        # 35 px header.
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", grid)
        width, height = grid.size["width"], grid.size["height"]
        ActionChains(self.driver).move_to_element_with_offset(
            grid, -width // 2 + 15, -height // 2 + 35 + 17
        ).click().perform()
        self.shows_category(biggest, "category-click")

    def shows_category(self, d: dict, name: str) -> None:
        until(
            f"category {d['_id']} ({d.get('category_name')}) with products = {d['products']:,}",
            lambda: f"(category {d['_id']})" in text(self.driver)
            and metric(self.driver, "products") == f"{d['products']:,}",
        )
        if d.get("avg_price") is not None and metric(self.driver, "average price") != f"${d['avg_price']:,.2f}":
            raise Failed(f"average price {metric(self.driver, 'average price')}, stored {d['avg_price']}")
        if metric(self.driver, "best sellers") != f"{d['bestsellers']:,}":
            raise Failed(f"best sellers {metric(self.driver, 'best sellers')}, stored {d['bestsellers']}")
        top = list(
            self.db.products.find({"category_id": d["_id"]})
            .sort([("boughtInLastMonth", -1), ("_id", 1)])
            .limit(1)
        )[0]
        until(
            f"the top product {top['_id']} of category {d['_id']}",
            lambda: top["_id"] in table_rows(self.driver, "asin"),
        )
        shot(self.driver, self.shots, name)

    def product_lookup(self) -> None:
        tab(self.driver, "Look-ups")
        product = self.db.products.find_one({})
        type_into(self.driver, "asin", product["_id"])
        until(
            f"{product['_id']} shown as stored with its title",
            lambda: f"{product['_id']} is stored" in text(self.driver)
            and product["title"] in text(self.driver),
        )
        shot(self.driver, self.shots, "product")
        reject = self.db.rejects.find_one({"payload": {"$regex": '"asin":"B0'}, "origin.file": {"$exists": True}})
        if reject is None:
            return
        asin = reject["payload"].split('"asin":"', 1)[1].split('"', 1)[0]
        if self.db.products.find_one({"_id": asin}) is not None:
            return  # a later version of it was stored
        type_into(self.driver, "asin", asin)
        where = f"{reject['origin']['file']}:{reject['origin']['line']}"
        until(
            f"{asin} shown as rejected ({reject['reason']}) at {where}",
            lambda: f"{asin} was rejected: {reject['reason']}" in text(self.driver) and where in text(self.driver),
        )
        shot(self.driver, self.shots, "product-rejected")

    def rejects(self) -> None:
        tab(self.driver, "Rejects")
        want: dict[tuple[str, str], int] = {}
        for r in self.db.rejects.find({}, {"stage": 1, "reason": 1}):
            key = (r.get("stage", "?"), r.get("reason", "?"))
            want[key] = want.get(key, 0) + 1

        def shown():
            table = [t for t in self.driver.find_elements(By.CSS_SELECTOR, "table") if "reason" in t.text]
            if not table:
                return False
            got = {}
            for tr in table[0].find_elements(By.CSS_SELECTOR, "tbody tr"):
                cells = [c.get_attribute("textContent").strip() for c in tr.find_elements(By.CSS_SELECTOR, "th, td")]
                got[(cells[0], cells[1])] = int(number(cells[2]))
            return got == want

        until(f"the rejects table = {want}", shown)
        shot(self.driver, self.shots, "rejects")

    def updates(self, before: int) -> tuple[float, list[float]]:
        """Waits for the open page to show the store's new count; returns how
        long it took and the intervals between the header's refreshes seen
        meanwhile."""
        tab(self.driver, "Price levels")
        url = self.driver.current_url
        marker = self.driver.execute_script("window.__shelf_marker = 1; return window.__shelf_marker")
        refreshes: list[float] = []
        last_caption = None

        def watch_header() -> None:
            nonlocal last_caption
            caption = next((l for l in text(self.driver).splitlines() if l.startswith("updated ")), None)
            if caption is not None and caption != last_caption:
                last_caption = caption
                refreshes.append(time.monotonic())

        def stored_more() -> bool:
            watch_header()
            return self.stored() > before

        until("more products stored", stored_more, within=120)
        started = time.monotonic()
        state = {"n": -1, "since": 0.0}

        def settled_count() -> int | None:
            # The count unchanged for 2 s: the new products are all stored.
            watch_header()
            n, now = self.stored(), time.monotonic()
            if n != state["n"]:
                state.update(n=n, since=now)
                return None
            return n if now - state["since"] >= 2.0 else None

        want = until("the store to settle", settled_count, within=120)
        until(
            f"the open page to show products stored = {want:,}",
            lambda: metric(self.driver, "products stored") == f"{want:,}",
        )
        took = time.monotonic() - started
        # A few more refreshes, watched closely, for the interval figure.
        watch_until = time.monotonic() + 10
        while time.monotonic() < watch_until:
            watch_header()
            time.sleep(0.05)
        intervals = [b - a for a, b in zip(refreshes, refreshes[1:])]
        if self.driver.current_url != url or self.driver.execute_script("return window.__shelf_marker") != marker:
            raise Failed("the page was reloaded to show the new figures")
        shot(self.driver, self.shots, "after-more-products")
        return took, intervals

    def store_down_and_back(self) -> None:
        """The test stops the store: the page says so; started again, it recovers."""
        print("STOP-STORE", flush=True)
        sys.stdin.readline()
        until(
            "the page saying MongoDB is not answering",
            lambda: "is not answering" in text(self.driver),
        )
        shot(self.driver, self.shots, "store-down")
        print("START-STORE", flush=True)
        sys.stdin.readline()
        want = f"{self.stored():,}"
        until(
            f"the page recovering (products stored = {want}, no error)",
            lambda: metric(self.driver, "products stored") == want
            and "is not answering" not in text(self.driver),
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8501")
    parser.add_argument("--shots", type=Path, default=Path("target/dashboard-shots"))
    parser.add_argument("--wait-for-more", action="store_true")
    args = parser.parse_args()
    check = Check(args.url, args.shots)
    try:
        took = check.first_render()
        print(f"first render: {took:.1f} s", flush=True)
        check.header()
        check.at_rest()
        check.renaming()
        check.price_levels()
        check.categories()
        check.trends()
        check.drill_down()
        check.click_drill_down()
        check.product_lookup()
        check.price_history()
        check.rejects()
        print("figures: every view matches MongoDB", flush=True)
        if args.wait_for_more:
            before = check.stored()
            print("READY", flush=True)
            sys.stdin.readline()
            took, intervals = check.updates(before)
            print(f"live update: the open page showed the new count {took:.1f} s after the first new product was stored", flush=True)
            if intervals:
                intervals.sort()
                print(
                    f"header refreshes during and after the stream: {len(intervals)} intervals, "
                    f"median {intervals[len(intervals) // 2]:.1f} s, max {intervals[-1]:.1f} s",
                    flush=True,
                )
            check.price_levels("price-levels-after-refresh")
            check.store_down_and_back()
            print("store outage: shown, and recovered from without a reload", flush=True)
    except Failed as failure:
        shot(check.driver, args.shots, "failure")
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    finally:
        check.driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
