"""The month report as one self-contained HTML file: inline CSS and inline SVG charts drawn here, no script, no
font, image or style from anywhere else (its Content-Security-Policy forbids every fetch), so it opens offline and
can be mailed as it is. Every figure also stands in text: the charts' bars and points carry their values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from html import escape

from operations.estimates import LABEL, money
from operations.reconcile_cli import row_json, unreadable_text
from operations.report import MonthReport

PALETTE = ("#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#65a30d", "#db2777")
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#111827;margin:24px auto;max-width:1100px;
padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}p.meta{color:#4b5563;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px;
min-width:150px}.card b{display:block;font-size:20px}.card span{color:#4b5563;font-size:12px}
.bad b{color:#b91c1c}.good b{color:#047857}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid #e5e7eb;padding:4px 8px;
text-align:left}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}td.k{white-space:nowrap}
.note{color:#92400e;background:#fffbeb;border:1px solid #fde68a;border-radius:6px;padding:6px 10px;font-size:13px}
svg{display:block;margin:4px 0 12px}svg text{font:11px system-ui,sans-serif;fill:#374151}
"""


def _n(value: Decimal | None) -> str:
    return "" if value is None else format(value.normalize(), "f")


def _amounts(by_currency: dict[str, Decimal]) -> str:
    return ", ".join(f"{money(v)} {c}" for c, v in sorted(by_currency.items())) or "no prices set"


def render(report: MonthReport) -> str:
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # nothing may be fetched: no script, no remote style, font or image
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>Metering report {escape(report.month)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Metering report, {escape(report.month)}</h1>",
        f'<p class="meta">Hours {report.start:%Y-%m-%d %H:00} to {report.end:%Y-%m-%d %H:00} UTC; generated '
        f"{report.generated_at:%Y-%m-%d %H:%M} UTC; Regions {escape(', '.join(report.regions))}. "
        + ("CloudTrail checked." if report.cloudtrail_checked else "CloudTrail not checked (older than 90 days).")
        + "</p>",
        *(
            [f'<p class="note" data-testid="unreadable">{escape(unreadable_text(report.unreadable))}.</p>']
            if report.unreadable
            else []
        ),
        _totals(report),
        _dimension_table(report),
        "<h2>Units per hour, per dimension</h2>",
        *(_hourly_chart(report, key, index) for index, key in enumerate(sorted(report.hourly))),
        "<h2>Accepted and billed, per day</h2>",
        *(_daily_chart(report, key) for key in sorted(report.daily)),
        "<h2>Top customers by estimated charge</h2>",
        f'<p class="note">{escape(LABEL)}.</p>',
        _customer_chart(report),
        _mismatch_table(report),
        _refund_table(report),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _card(label: str, value: str, test_id: str, tone: str = "") -> str:
    return f'<div class="card {tone}" data-testid="{test_id}"><b>{escape(value)}</b><span>{escape(label)}</span></div>'


def _totals(report: MonthReport) -> str:
    records = sum(d.records_billed for d in report.dimensions)
    mismatches = len(report.mismatches)
    cards = [
        _card("records billed", str(records), "records-billed"),
        _card("estimated billed (list prices)", _amounts(report.estimated_billed), "estimated-billed"),
        _card("estimated still to bill", _amounts(report.estimated_to_bill), "estimated-to-bill"),
        _card("mismatches", str(mismatches), "mismatch-count", "bad" if mismatches else "good"),
    ]
    return '<h2>Totals</h2><div class="cards">' + "".join(cards) + "</div>"


def _dimension_table(report: MonthReport) -> str:
    head = (
        "<tr><th>Product</th><th>Dimension</th><th class=n>Units accepted</th><th class=n>Units billed</th>"
        "<th class=n>Records billed</th><th class=n>In CloudTrail</th><th class=n>List price</th>"
        "<th class=n>Estimated billed</th></tr>"
    )
    lines = []
    for d in report.dimensions:
        price = f"{_n(d.price)} {d.currency}" if d.price is not None else "not set"
        estimate = f"{money(d.estimated)} {d.currency}" if d.estimated is not None else ""
        lines.append(
            f'<tr data-testid="dimension-{escape(d.product_code)}-{escape(d.dimension)}">'
            f"<td>{escape(d.product_code)}</td><td>{escape(d.dimension)}</td>"
            f'<td class=n data-col="accepted">{_n(d.accepted)}</td><td class=n data-col="billed">{_n(d.billed)}</td>'
            f'<td class=n data-col="records">{d.records_billed}</td>'
            f'<td class=n data-col="cloudtrail">{_n(d.cloudtrail)}</td><td class=n>{escape(price)}</td>'
            f'<td class=n data-col="estimated">{escape(estimate)}</td></tr>'
        )
    return f"<table>{head}{''.join(lines)}</table>"


def _scale(top: Decimal) -> Decimal:
    return top if top > 0 else Decimal(1)


def _hourly_chart(report: MonthReport, key: tuple[str, str], index: int) -> str:
    values = report.hourly[key]
    width, height, left, bottom = 1040, 170, 48, 22
    plot_w, plot_h = width - left - 8, height - bottom - 10
    top = _scale(max(values, default=Decimal(0)))
    step = plot_w / max(len(values), 1)
    colour = PALETTE[index % len(PALETTE)]
    bars = []
    for hour, value in enumerate(values):
        if value <= 0:
            continue
        h = float(value / top) * plot_h
        x = left + hour * step
        moment = report.start.timestamp() + hour * 3600
        bars.append(
            f'<rect x="{x:.1f}" y="{10 + plot_h - h:.1f}" width="{max(step - 0.5, 0.8):.1f}" height="{h:.1f}" '
            f'fill="{colour}" data-value="{_n(value)}"><title>{_hour(moment)}: {_n(value)}</title></rect>'
        )
    ticks = []
    for hour in range(0, len(values), 24):
        x = left + hour * step
        ticks.append(f'<line x1="{x:.1f}" y1="{10 + plot_h}" x2="{x:.1f}" y2="{14 + plot_h}" stroke="#9ca3af"/>')
        label = _day(report.start.timestamp() + hour * 3600)
        ticks.append(f'<text x="{x + 2:.1f}" y="{height - 6}">{label}</text>')
    title = f"{key[0]} / {key[1]}: units accepted per hour (peak {_n(max(values, default=Decimal(0)))})"
    return _svg(width, height, title, left, plot_h, top, "".join(bars) + "".join(ticks))


def _daily_chart(report: MonthReport, key: tuple[str, str]) -> str:
    days = sorted(report.daily[key])
    width, height, left, bottom = 1040, 170, 48, 22
    plot_w, plot_h = width - left - 8, height - bottom - 10
    top = _scale(max((max(a, b) for a, b in report.daily[key].values()), default=Decimal(0)))
    slot = plot_w / max(len(days), 1)
    bar = min(slot * 0.38, 28)
    shapes = []
    for index, day in enumerate(days):
        accepted, billed = report.daily[key][day]
        for offset, (value, colour, what) in enumerate(
            ((accepted, "#93c5fd", "accepted"), (billed, "#1d4ed8", "billed"))
        ):
            h = float(value / top) * plot_h
            x = left + index * slot + slot * 0.1 + offset * bar
            shapes.append(
                f'<rect x="{x:.1f}" y="{10 + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}" '
                f'data-day="{day}" data-series="{what}" data-value="{_n(value)}"><title>{day} {what}: {_n(value)}'
                "</title></rect>"
            )
        shapes.append(f'<text x="{left + index * slot + slot * 0.1:.1f}" y="{height - 6}">{day[5:]}</text>')
    legend = (
        f'<rect x="{width - 190}" y="2" width="10" height="10" fill="#93c5fd"/><text x="{width - 176}" y="11">'
        f'accepted</text><rect x="{width - 110}" y="2" width="10" height="10" fill="#1d4ed8"/>'
        f'<text x="{width - 96}" y="11">billed</text>'
    )
    title = f"{key[0]} / {key[1]}: units accepted and billed per day"
    return _svg(width, height, title, left, plot_h, top, "".join(shapes) + legend)


def _customer_chart(report: MonthReport) -> str:
    customers = report.top_customers
    if not customers:
        return "<p>No priced usage this month.</p>"
    row_h, left, width = 26, 260, 1040
    height = row_h * len(customers) + 8
    top = _scale(max(c.total for c in customers))
    shapes = []
    for index, charge in enumerate(customers):
        y = 4 + index * row_h
        billed_w = float(charge.billed / top) * (width - left - 170)
        pending_w = float(charge.to_bill / top) * (width - left - 170)
        label = f"{charge.customer_aws_account_id} ({charge.product_code})"
        shapes.append(
            f'<g data-testid="customer-{escape(charge.customer_aws_account_id)}" data-billed="{money(charge.billed)}" '
            f'data-currency="{escape(charge.currency)}"><text x="4" y="{y + 16}">{escape(label)}</text>'
            f'<rect x="{left}" y="{y + 3}" width="{billed_w:.1f}" height="{row_h - 8}" fill="#059669"/>'
            f'<rect x="{left + billed_w:.1f}" y="{y + 3}" width="{pending_w:.1f}" height="{row_h - 8}" '
            f'fill="#a7f3d0"/><text x="{left + billed_w + pending_w + 6:.1f}" y="{y + 16}">'
            f"{money(charge.billed)} {escape(charge.currency)} billed"
            + (f" + {money(charge.to_bill)} to bill" if charge.to_bill else "")
            + "</text></g>"
        )
    return (
        f'<svg role="img" aria-label="Top customers by estimated charge" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">{"".join(shapes)}</svg>'
    )


def _mismatch_table(report: MonthReport) -> str:
    if not report.mismatches:
        return '<h2>Mismatches</h2><p data-testid="no-mismatches">None: every unit accepted was billed as sealed.</p>'
    head = (
        "<tr><th>Hour</th><th>Region</th><th>Account</th><th>Dimension</th><th class=n>Accepted</th>"
        "<th class=n>Sealed</th>"
        "<th>Status</th><th class=n>CloudTrail</th><th>Mismatch</th><th>Why</th></tr>"
    )
    lines = []
    for row in report.mismatches:
        data = row_json(row)
        cells: Sequence[str] = (
            data["hour"],
            data["region"],
            data["account"],
            data["dimension"],
            data["accepted"] or "",
            data["sealed"] or "",
            data["status"],
            data["cloudtrail"] or "",
            data["mismatch"] or "",
            data["detail"] or "",
        )
        # the hour and the Region read whole (not wrapped at their hyphens)
        classes = (" class=k", " class=k", "", "", " class=n", " class=n", "", " class=n", "", "")
        lines.append(
            '<tr data-testid="mismatch">'
            + "".join(f"<td{c}>{escape(str(v))}</td>" for c, v in zip(classes, cells, strict=True))
            + "</tr>"
        )
    return f"<h2>Mismatches ({len(report.mismatches)})</h2><table>{head}{''.join(lines)}</table>"


def _svg(width: int, height: int, title: str, left: int, plot_h: float, top: Decimal, body: str) -> str:
    axis = (
        f'<line x1="{left}" y1="10" x2="{left}" y2="{10 + plot_h}" stroke="#9ca3af"/>'
        f'<line x1="{left}" y1="{10 + plot_h}" x2="{width - 8}" y2="{10 + plot_h}" stroke="#9ca3af"/>'
        f'<text x="4" y="16">{_n(top)}</text><text x="4" y="{10 + plot_h}">0</text>'
    )
    return (
        f'<figure><figcaption>{escape(title)}</figcaption><svg role="img" aria-label="{escape(title)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f"{axis}{body}</svg></figure>"
    )


def _hour(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:00")


def _day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%d")


def _refund_table(report: MonthReport) -> str:
    """The refunds AWS processed this month (``cli adjust``'s, or the seller's own); a failed one raised an alarm."""
    if not report.refunds:
        return '<h2>Refunds</h2><p data-testid="no-refunds">None this month.</p>'
    head = (
        "<tr><th>When</th><th>Agreement</th><th>Invoice</th><th class=n>Amount</th><th>Status</th><th>Reason</th></tr>"
    )
    lines = []
    for notice in report.refunds:
        details = notice.details
        cells = (
            notice.at.strftime("%Y-%m-%d %H:%MZ"),
            notice.agreement_id,
            details.get("invoice_id", ""),
            f"{details.get('amount', '')} {details.get('currency', '')}".strip(),
            notice.status,
            details.get("reason_code", ""),
        )
        classes = ("", "", "", " class=n", "", "")
        lines.append(
            f'<tr data-testid="refund" class="{"bad" if notice.status == "FAILED" else ""}">'
            + "".join(f"<td{c}>{escape(str(v))}</td>" for c, v in zip(classes, cells, strict=True))
            + "</tr>"
        )
    return f"<h2>Refunds ({len(report.refunds)})</h2><table>{head}{''.join(lines)}</table>"
