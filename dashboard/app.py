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

from store import LEVELS, Settings, Store, StoreDown, complete_buckets, pipeline

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
    """Products stored and how fast, what waits to be stored and whether the
    services answer: the figures `shelf status` shows, from the same
    /metrics."""
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

    stages = pipeline(settings)
    missing = [s.name for s in stages if not s.up]
    waiting = sum(s.lag or 0 for s in stages if s.lag is not None)
    columns = st.columns(4)
    columns[0].metric("products stored", f"{stored:,}")
    columns[1].metric("stored per second", "…" if rate is None else f"{rate:,.0f}")
    columns[2].metric("waiting to be stored", "unknown" if missing else f"{waiting:,.0f}")
    if missing:
        columns[3].metric("pipeline", f"{', '.join(missing)} down")
        st.caption(
            f"not answering: {', '.join(missing)} (`shelf status` shows the same; "
            "`shelf run` starts all three)"
        )
    else:
        columns[3].metric("pipeline", "up to date" if waiting == 0 else "catching up")
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
    st.altair_chart(histogram(buckets), width="stretch")
    figure_table(counted(buckets, ["products"]))


def histogram(buckets: pd.DataFrame) -> alt.Chart:
    """Buckets in price order, always: an explicit order, so a bucket that
    first appears on a live refresh takes its place instead of the end."""
    return (
        alt.Chart(buckets)
        .mark_bar()
        .encode(
            x=alt.X("bucket:N", sort=list(buckets["bucket"]), title="price ($)"),
            y=alt.Y("products:Q"),
            tooltip=["bucket", alt.Tooltip("products:Q", format=",")],
        )
    )


def counted(frame: pd.DataFrame, counts: list[str], money: list[str] = ()) -> pd.DataFrame:
    """`frame` as text for a table: counts with separators, money as $1,234.56."""
    shown = frame.copy()
    for column in counts:
        shown[column] = shown[column].map(lambda n: f"{int(n):,}")
    for column in money:
        shown[column] = shown[column].map(lambda x: "n/a" if pd.isna(x) else f"${x:,.2f}")
    return shown


# A category chosen by a click on its row or bar, or by its name or number
# typed in: session state, so the drill-down (which reads the category's
# products) runs only when the choice changes, not on every refresh.
PICKED = "category_picked"


def pick(source: str, selection: object, category_id: int) -> None:
    """A click on `source` selecting `selection` chooses `category_id`. The
    widget keeps its selection across refreshes: only a new one counts, so
    a name typed since is not overridden."""
    seen = f"{source}_seen"
    if st.session_state.get(seen) == selection:
        return
    st.session_state[seen] = selection
    st.session_state[PICKED] = category_id
    st.rerun()  # the whole page: the drill-down sits outside this fragment


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
    shown = shown.sort_values(sort, ascending=(sort == "category"), na_position="last").reset_index(drop=True)
    st.caption(f"{len(shown)} of {len(frame)} categories · click a row or a bar to look inside")
    number = st.column_config.NumberColumn
    table = st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        key="category_table",
        on_select="rerun",
        selection_mode="single-row",
        column_config={
            "category_id": number("id", format="%d"),
            "products": number("products", format="localized"),
            "avg_price": number("average price", format="dollar"),
            "bestsellers": number("best sellers", format="localized"),
            "avg_stars": number("average stars", format="%.2f"),
            "bought_last_month": number("bought last month", format="localized"),
        },
    )
    rows = table.selection.rows if table is not None else []
    if rows and rows[0] < len(shown):
        pick("category_table", rows[0], int(shown.loc[rows[0], "category_id"]))
    top = shown.head(25)
    clicked = alt.selection_point(fields=["category_id"], name="clicked")
    # Full names on the axis (no cut "Beauty & Persona…"), and in the tooltip.
    category_axis = alt.Y("category:N", sort="-x", axis=alt.Axis(labelLimit=0), title=None)
    tabs = st.tabs(["products", "average price", "best sellers and stars"])
    with tabs[0]:
        chart = st.altair_chart(
            alt.Chart(top)
            .mark_bar()
            .encode(
                x=alt.X("products:Q", axis=alt.Axis(format=",.0f")),
                y=category_axis,
                tooltip=["category", alt.Tooltip("products:Q", format=",")],
            )
            .add_params(clicked),
            width="stretch",
            key="category_chart",
            on_select="rerun",
        )
        points = (chart.selection.get("clicked") or []) if chart is not None else []
        if points and "category_id" in points[0]:
            pick("category_chart", points[0]["category_id"], int(points[0]["category_id"]))
    with tabs[1]:
        st.altair_chart(
            alt.Chart(top.dropna(subset=["avg_price"]))
            .mark_bar()
            .encode(
                x=alt.X("avg_price:Q", title="average price ($)", axis=alt.Axis(format="$,.2f")),
                y=category_axis,
                tooltip=["category", alt.Tooltip("avg_price:Q", format="$,.2f", title="average price")],
            ),
            width="stretch",
        )
    with tabs[2]:
        st.altair_chart(
            alt.Chart(top)
            .mark_circle(size=80)
            .encode(
                x=alt.X("avg_stars:Q", scale=alt.Scale(zero=False)),
                y="bestsellers:Q",
                tooltip=["category", alt.Tooltip("bestsellers:Q", format=","), alt.Tooltip("avg_stars:Q", format=".2f")],
            ),
            width="stretch",
        )
    figure_table(
        counted(
            top[["category", "products", "avg_price", "bestsellers", "avg_stars"]],
            ["products", "bestsellers"],
            ["avg_price"],
        )
    )


def typed_category(text: str, frame: pd.DataFrame) -> int | str:
    """The category a typed name or number means, or why none does."""
    if text.isdigit():
        return int(text)
    names = frame["category"].str.lower()
    exact = frame[names == text.lower()]
    if len(exact) == 1:
        return int(exact["category_id"].iloc[0])
    partial = frame[names.str.contains(text.lower(), regex=False)]
    if len(partial) == 1:
        return int(partial["category_id"].iloc[0])
    if partial.empty:
        return f"no category named like `{text}`"
    some = ", ".join(partial["category"].head(5))
    return f"{len(partial)} categories match `{text}` ({some}…): type more of the name"


def on_typed() -> None:
    st.session_state[PICKED] = st.session_state.get("category_typed", "").strip() or None


def drill_down() -> None:
    st.subheader("A category")
    st.text_input("category name or number", key="category_typed", on_change=on_typed)
    chosen = st.session_state.get(PICKED)
    if chosen is None:
        st.caption("click a category above, or type its name")
        return
    if isinstance(chosen, str):
        try:
            chosen = typed_category(chosen, store().categories())
        except StoreDown as error:
            down(error)
            return
        if isinstance(chosen, str):
            st.warning(chosen)
            return
    category_id = chosen
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
    buckets = pd.DataFrame(
        complete_buckets(stats.get("buckets") or {}), columns=["bucket", "products"]
    )
    if not buckets.empty:
        st.altair_chart(histogram(buckets), width="stretch")
    st.markdown("Top products by bought in the last month")
    st.table(
        pd.DataFrame(
            [
                {
                    "asin": p["_id"],
                    "title": p.get("title"),
                    "price": "" if p.get("price") is None else f"${p['price']:,.2f}",
                    "bought last month": f"{int(p.get('boughtInLastMonth') or 0):,}",
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
            width="stretch",
        )
    st.subheader("The catalogue's mix of price levels")
    st.altair_chart(
        alt.Chart(mix).mark_bar().encode(
            x=alt.X("day:O", title="day"),
            y=alt.Y("products:Q", stack="normalize", title="share of products"),
            color=alt.Color("level:N", sort=LEVELS, scale=alt.Scale(domain=LEVELS), title="price level"),
            tooltip=["day", "level", alt.Tooltip("products:Q", format=",")],
        ),
        width="stretch",
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
    drill_down()
with views[2]:
    trends()
with views[3]:
    product_lookup()
with views[4]:
    rejects()
