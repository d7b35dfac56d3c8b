"""shelfstream's live dashboard: the catalogue as it streams in.

Run it with `shelf dashboard` or `make dashboard` (http://127.0.0.1:8501).
Settings come from SHELF_MONGO, SHELF_DB and the services' metrics
addresses (see dashboard/README.md). The figures refresh by themselves
every SHELF_DASHBOARD_REFRESH_S seconds (3) without reloading the page.
"""

from __future__ import annotations

import json
import time

import altair as alt
import pandas as pd
import streamlit as st

from store import LEVELS, Settings, Store, StoreDown, metrics, price_order, total

settings = Settings.from_env()
st.set_page_config(page_title="shelfstream", layout="wide")


@st.cache_resource
def store() -> Store:
    return Store(settings)


def down(error: StoreDown) -> None:
    st.error(f"{error}. The page tries again every {settings.refresh_seconds:g} s.", icon="⚠️")


def figure_table(frame: pd.DataFrame) -> None:
    """The figures behind a chart, as a plain table (for reading and for the tests)."""
    with st.expander("figures", expanded=False):
        st.table(frame.set_index(frame.columns[0]))


@st.fragment(run_every=settings.refresh_seconds)
def header() -> None:
    """Rows stored, rows per second and lag: MongoDB first, the sink's /metrics when it answers."""
    try:
        buckets = store().price_buckets()
    except StoreDown as error:
        down(error)
        return
    stored = int(buckets["products"].sum())
    now = time.monotonic()
    last = st.session_state.get("last_stored")
    rate = None
    if last is not None and now > last[1]:
        rate = max(0.0, (stored - last[0]) / (now - last[1]))
    st.session_state["last_stored"] = (stored, now)

    sink = metrics(settings.sink_metrics)
    columns = st.columns(4)
    columns[0].metric("products stored", f"{stored:,}")
    columns[1].metric("rows per second", "…" if rate is None else f"{rate:,.0f}")
    if sink is None:
        columns[2].metric("consumer lag", "n/a")
        columns[3].metric("sink", "not reachable")
        st.caption(f"sink /metrics at {settings.sink_metrics} is not answering; lag unknown")
    else:
        columns[2].metric("consumer lag", f"{total(sink, 'shelf_sink_lag'):,.0f}")
        columns[3].metric("sink records", f"{total(sink, 'shelf_sink_records_total'):,.0f}")
    renaming = store().renames_pending()
    if renaming:
        st.info(
            f"renaming {renaming:,} products: their category's name arrived after them "
            "(category figures already carry it)"
        )
    st.caption(f"updated {time.strftime('%H:%M:%S')} · database `{settings.database}`")


@st.fragment(run_every=settings.refresh_seconds)
def distribution() -> None:
    try:
        buckets = store().price_buckets()
    except StoreDown as error:
        down(error)
        return
    st.subheader("Products per price level")
    chart = (
        alt.Chart(buckets)
        .mark_bar()
        .encode(x=alt.X("bucket:N", sort=None, title="price ($)"), y=alt.Y("products:Q"))
    )
    st.altair_chart(chart, width="stretch")
    figure_table(buckets)


@st.fragment(run_every=settings.refresh_seconds)
def categories() -> None:
    try:
        frame = store().categories()
    except StoreDown as error:
        down(error)
        return
    st.subheader("Categories")
    search = st.text_input("search categories", key="category_search")
    sort = st.selectbox(
        "sort by",
        ["products", "avg_price", "bestsellers", "avg_stars", "bought_last_month", "category"],
        key="category_sort",
    )
    shown = frame
    if search:
        shown = frame[frame["category"].str.contains(search, case=False, regex=False)]
    shown = shown.sort_values(sort, ascending=(sort == "category"), na_position="last")
    st.caption(f"{len(shown)} of {len(frame)} categories")
    st.dataframe(shown, hide_index=True, width="stretch")
    top = shown.head(25)
    tabs = st.tabs(["products", "average price", "best sellers and stars"])
    with tabs[0]:
        st.altair_chart(
            alt.Chart(top).mark_bar().encode(x="products:Q", y=alt.Y("category:N", sort="-x")),
            width="stretch",
        )
    with tabs[1]:
        st.altair_chart(
            alt.Chart(top.dropna(subset=["avg_price"]))
            .mark_bar()
            .encode(x=alt.X("avg_price:Q", title="average price ($)"), y=alt.Y("category:N", sort="-x")),
            width="stretch",
        )
    with tabs[2]:
        st.altair_chart(
            alt.Chart(top)
            .mark_circle(size=80)
            .encode(
                x=alt.X("avg_stars:Q", scale=alt.Scale(zero=False)),
                y="bestsellers:Q",
                tooltip=["category", "bestsellers", "avg_stars"],
            ),
            width="stretch",
        )
    figure_table(top[["category", "products", "avg_price", "bestsellers", "avg_stars"]])


def drill_down() -> None:
    st.subheader("A category")
    text = st.text_input("category number", key="category_id")
    if not text:
        return
    try:
        category_id = int(text)
    except ValueError:
        st.warning(f"`{text}` is not a category number")
        return
    try:
        stats = store().category(category_id)
        if stats is None:
            st.info(f"no products in category {category_id} (yet)")
            return
        with st.spinner(f"reading category {category_id}'s {stats.get('products', 0):,} products …"):
            top = store().top_products(category_id)
            rejects = store().category_rejects(category_id)
    except StoreDown as error:
        down(error)
        return
    st.markdown(f"**{stats.get('category_name') or 'unnamed'}** (category {category_id})")
    columns = st.columns(4)
    columns[0].metric("products", f"{stats.get('products', 0):,}")
    avg = stats.get("avg_price")
    columns[1].metric("average price", "n/a" if avg is None else f"${avg:,.2f}")
    columns[2].metric("best sellers", f"{stats.get('bestsellers', 0):,}")
    stars = stats.get("avg_stars")
    columns[3].metric("average stars", "n/a" if stars is None else f"{stars:.2f}")
    buckets = sorted((stats.get("buckets") or {}).items(), key=lambda kv: price_order(kv[0]))
    histogram = pd.DataFrame(
        [{"bucket": k, "products": int(v)} for k, v in buckets],
        columns=["bucket", "products"],
    )
    if not histogram.empty:
        st.altair_chart(
            alt.Chart(histogram).mark_bar().encode(x=alt.X("bucket:N", sort=None), y="products:Q"),
            width="stretch",
        )
    st.markdown("Top products by bought in the last month")
    st.table(
        pd.DataFrame(
            [
                {
                    "asin": p["_id"],
                    "title": p.get("title"),
                    "price": "" if p.get("price") is None else f"{p['price']:.2f}",
                    "bought last month": p.get("boughtInLastMonth"),
                }
                for p in top
            ],
            columns=["asin", "title", "price", "bought last month"],
        )
    )
    st.markdown(f"Rejects in this category: {len(rejects)}{'+' if len(rejects) == 20 else ''}")
    for r in rejects:
        st.text(f"{r.get('reason')}: {r.get('detail')} ({origin_of(r)})")


def origin_of(reject: dict) -> str:
    origin = reject.get("origin") or {}
    if origin.get("file"):
        return f"{origin['file']}:{origin.get('line')}"
    return str(reject.get("source") or reject.get("_id"))


def product_lookup() -> None:
    st.subheader("A product")
    # Stored upper-cased, as the gateway keys them.
    asin = st.text_input("asin", key="asin").strip().upper()
    if not asin:
        return
    try:
        product = store().product(asin)
        reject = None if product else store().reject_of(asin)
    except StoreDown as error:
        down(error)
        return
    if product is not None:
        st.success(f"{asin} is stored")
        product.pop("_hist", None)
        try:
            history = store().price_history(asin)
        except StoreDown as error:
            down(error)
            return
        if history.empty:
            st.caption("no price change seen")
        else:
            st.caption(f"price history: {len(history)} change(s)")
            st.table(history.set_index("day"))
        st.json(json.loads(json.dumps(product, default=str)))
    elif reject is not None:
        st.warning(f"{asin} was rejected: {reject.get('reason')} ({reject.get('detail')}) at {origin_of(reject)}")
        st.code(reject.get("payload", ""), language="json")
    else:
        st.info(f"no product and no reject with asin {asin}")


@st.fragment(run_every=settings.refresh_seconds)
def rejects() -> None:
    st.subheader("Rejects by stage and reason")
    try:
        frame = store().rejects_by_reason()
    except StoreDown as error:
        down(error)
        return
    if frame.empty:
        st.info("no rejects")
        return
    st.table(frame.set_index("stage"))


@st.fragment(run_every=settings.refresh_seconds)
def trends() -> None:
    try:
        days = store().days()
        frame = store().categories()
    except StoreDown as error:
        down(error)
        return
    if not days:
        st.info("no daily figures yet")
        return
    st.subheader(f"Average price per day ({days[0]} to {days[-1]})")
    names = dict(zip(frame["category"], frame["category_id"]))
    chosen = st.multiselect("categories", list(names), default=list(names)[:5], key="trend_categories")
    try:
        prices = store().daily_prices([int(names[c]) for c in chosen])
        mix = store().price_mix()
    except StoreDown as error:
        down(error)
        return
    if not prices.empty:
        st.altair_chart(
            alt.Chart(prices).mark_line(point=True).encode(
                x=alt.X("day:O", title="day"),
                y=alt.Y("avg_price:Q", title="average price ($)"),
                color="category:N",
                tooltip=["day", "category", alt.Tooltip("avg_price:Q", format="$,.2f")],
            ),
            use_container_width=True,
        )
    st.subheader("The catalogue's mix of price levels")
    st.altair_chart(
        alt.Chart(mix).mark_bar().encode(
            x=alt.X("day:O", title="day"),
            y=alt.Y("products:Q", stack="normalize", title="share of products"),
            color=alt.Color("level:N", sort=LEVELS, scale=alt.Scale(domain=LEVELS), title="price level"),
            tooltip=["day", "level", alt.Tooltip("products:Q", format=",")],
        ),
        use_container_width=True,
    )
    day = st.selectbox("movers of the day", list(reversed(days)), key="movers_day")
    try:
        drops, rises = store().movers(day)
    except StoreDown as error:
        down(error)
        return
    left, right = st.columns(2)
    for column, movers, what in [(left, drops, "drops"), (right, rises, "rises")]:
        with column:
            st.caption(f"biggest {what} on {day}")
            if movers.empty:
                st.info(f"no {what}")
            else:
                st.table(movers.set_index("product"))


st.title("shelfstream")
header()
views = st.tabs(["Price levels", "Categories", "Trends", "Look-ups", "Rejects"])
with views[0]:
    distribution()
with views[1]:
    categories()
with views[2]:
    trends()
with views[3]:
    left, right = st.columns(2)
    with left:
        drill_down()
    with right:
        product_lookup()
with views[4]:
    rejects()
