"""The review page: one self-contained HTML file (inline CSS, SVG and a little plain JavaScript;
nothing fetched), for billing staff and auditors. No I/O: `render_page` returns the text.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from .. import __version__
from ..decision_trace import Trace
from ..rules.decision import Finding
from .cases import Review, ReviewCase, Warning, rule_key

# What a biller checks for a hold of each rule (rules.md; docs/coding-rules.md has the detail).
WHAT_TO_CHECK = {
    "R1": "the Procedure's code, or a modifierExtension the adapter does not understand",
    "R2": "the Procedure's and the Encounter's status in the EHR (complete, or enter in error)",
    "R2a": "the date of service: the clinic's time zone on the Location or the billing Organization",
    "R3": "who rendered the session: two clinicians the same day need 76/77 and unit-limit review",
    "R4": "each needled muscle coded in SNOMED CT with its side, or the local site code mapped",
    "R5": "whether an injectate was given: then it is a trigger-point injection (20552/20553)",
    "R6": "the sites that could not be mapped: the count decides 20560 or 20561",
    "R7": "the clinician's role and NUCC taxonomy (GP/CQ), PTA scope in the state, NCCI pairs (59/X)",
    "R8": "the Coverage on the date; for Medicare the ABN, NCD 30.3.3 and the session count",
    "R9": "an ICD-10-CM diagnosis on the Encounter or the Procedure",
    "R10": "same-day acupuncture (97810-97814): which service is billed",
    "R11": "the Task's reasons",
}

_STATUS_WORDS = {
    "active": "active Claim",
    "draft": "held draft",
    "cancelled": "cancelled Claim",
    "procedure-task": "Task on a Procedure",
}

_CSS = """
:root { --ink:#1d2733; --muted:#5b6b7c; --line:#d6dde5; --held:#b45309; --ok:#15803d; --off:#6b7280; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); margin: 0 auto;
       max-width: 1100px; padding: 1rem 1.5rem 4rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 2px solid var(--line); }
.muted, .meta { color: var(--muted); font-size: .9rem; }
dl.counts { display: grid; grid-template-columns: repeat(auto-fill, minmax(9.5rem, 1fr)); gap: .6rem; }
dl.counts div { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .7rem; }
dl.counts dt { color: var(--muted); font-size: .85rem; }
dl.counts dd { margin: 0; font-size: 1.6rem; font-weight: 600; }
svg text { font: 12px system-ui, sans-serif; fill: var(--ink); }
form.filters { position: sticky; top: 0; background: #fff; padding: .6rem 0; border-bottom: 1px solid var(--line);
               display: flex; flex-wrap: wrap; gap: .8rem; align-items: end; z-index: 1; }
form.filters label { display: flex; flex-direction: column; font-size: .85rem; color: var(--muted); }
input, select { font: inherit; padding: .25rem .4rem; }
article.case { border: 1px solid var(--line); border-left: 5px solid var(--off); border-radius: 6px;
               padding: .6rem .9rem; margin: .8rem 0; break-inside: avoid; }
article.case[data-status="draft"] { border-left-color: var(--held); }
article.case[data-status="active"] { border-left-color: var(--ok); }
article.case h3 { margin: .1rem 0 .3rem; font-size: 1.05rem; }
.code { font-family: ui-monospace, monospace; font-weight: 600; }
.rule { display: inline-block; min-width: 2.6rem; font-family: ui-monospace, monospace; font-weight: 600; }
ul.reasons li { margin: .15rem 0; } ul.reasons { padding-left: 1.1rem; }
table { border-collapse: collapse; width: 100%; margin: .3rem 0; }
th, td { text-align: left; vertical-align: top; padding: .2rem .5rem; border-bottom: 1px solid var(--line); }
th { font-size: .85rem; color: var(--muted); font-weight: 500; }
td.sources { font-family: ui-monospace, monospace; font-size: .82rem; }
details summary { cursor: pointer; color: var(--muted); }
ol.trace { font-size: .9rem; }
.hidden { display: none !important; }
@media print { form.filters, .noprint { display: none; } body { max-width: none; } a { color: inherit; } }
"""

_SCRIPT = """
(function () {
  var form = document.getElementById('filters');
  var cases = Array.prototype.slice.call(document.querySelectorAll('article.case'));
  function value(id) { return document.getElementById(id).value.trim(); }
  function apply() {
    var patient = value('f-patient').toLowerCase(), from = value('f-from'), to = value('f-to');
    var rule = value('f-rule'), status = value('f-status'), shown = 0;
    cases.forEach(function (c) {
      var d = c.getAttribute('data-date') || '';
      var ok = (!patient || (c.getAttribute('data-patient') || '').toLowerCase().indexOf(patient) >= 0) &&
        (!from || (d && d >= from)) && (!to || (d && d <= to)) &&
        (!rule || (' ' + c.getAttribute('data-held-by') + ' ').indexOf(' ' + rule + ' ') >= 0) &&
        (!status || c.getAttribute('data-status') === status);
      c.classList.toggle('hidden', !ok);
      if (ok) { shown += 1; }
    });
    document.getElementById('shown').textContent = String(shown);
  }
  form.addEventListener('input', apply);
  form.addEventListener('change', apply);
  form.addEventListener('reset', function () { window.setTimeout(apply, 0); });
  window.addEventListener('beforeprint', function () {
    document.querySelectorAll('details').forEach(function (d) { d.setAttribute('open', ''); });
  });
  apply();
})();
"""


def render_page(review: Review, source: str, generated: str, names: dict[str, str] | None = None) -> str:
    """The whole page. `names` (patient reference to display name) only when the user asked."""
    names = names or {}
    queue = review.queue()
    active = sorted(review.with_status("active"), key=lambda c: (c.service_date, c.key))
    cancelled = sorted(review.with_status("cancelled"), key=lambda c: (c.service_date, c.key))
    on_procedures = review.with_status("procedure-task")
    rules = sorted({r for c in queue for r in c.held_by}, key=rule_key)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Dry-needling claims review</title>",
        f"<style>{_CSS}</style></head><body>",
        "<header><h1>Dry-needling claims review</h1>",
        f'<p class="meta">From {_e(source)} &middot; written {_e(generated)} &middot; dry-needling-adapter '
        f"{_e(__version__)}</p></header>",
        _summary(review),
        _filters(rules),
        _section("review", "Review queue", "Held drafts, oldest first: each reason with its rule.", queue, names),
        _section("active", "Active Claims", "With the decision trace behind each code.", active, names),
        _section("cancelled", "Cancelled Claims", "Claims the adapter withdrew, and why.", cancelled, names),
        _section(
            "procedure-tasks",
            "Tasks on Procedures",
            "Trigger-point injections recorded as dry needling (R5): no dry-needling line for them.",
            on_procedures,
            names,
        ),
        _warnings(review),
        _problems(review.problems),
        f"<script>{_SCRIPT}</script>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _summary(review: Review) -> str:
    counts = [
        ("active", "Claims active", len(review.with_status("active"))),
        ("held", "Claims held", len(review.with_status("draft"))),
        ("cancelled", "Claims cancelled", len(review.with_status("cancelled"))),
        ("tasks", "Review tasks", review.open_tasks),
        ("warnings", "Coding warnings", len(review.warnings)),
        ("problems", "Input problems", len(review.problems)),
    ]
    cells = "".join(
        f'<div><dt>{_e(label)}</dt><dd data-count="{key}">{value}</dd></div>' for key, label, value in counts
    )
    return (
        '<section id="summary"><h2>Summary</h2>'
        f'<dl class="counts">{cells}</dl>'
        "<h3>Holds by rule</h3>"
        f"{_holds_chart(review)}</section>"
    )


def _holds_chart(review: Review) -> str:
    held = sorted(review.holds_by_rule().items(), key=lambda item: rule_key(item[0]))
    if not held:
        return '<p class="muted" id="holds-chart">No case is held.</p>'
    most = max(n for _, n in held)
    bar_height, gap, label_width, width = 22, 6, 48, 520
    height = len(held) * (bar_height + gap)
    bars = []
    for i, (rule, n) in enumerate(held):
        y = i * (bar_height + gap)
        length = max(2, round((width - label_width - 40) * n / most))
        bars.append(
            f'<g class="bar" data-rule="{_e(rule)}" data-count="{n}">'
            f'<text x="0" y="{y + 15}">{_e(rule)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{length}" height="{bar_height}" fill="#b45309" rx="3"></rect>'
            f'<text x="{label_width + length + 6}" y="{y + 15}">{n}</text></g>'
        )
    return (
        f'<svg id="holds-chart" role="img" aria-label="Hold reasons by rule" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">{"".join(bars)}</svg>'
    )


def _filters(rules: list[str]) -> str:
    options = "".join(f'<option value="{_e(r)}">{_e(r)}</option>' for r in rules)
    statuses = "".join(f'<option value="{key}">{_e(word)}</option>' for key, word in _STATUS_WORDS.items())
    return (
        '<form class="filters" id="filters" role="search" onsubmit="return false">'
        '<label>Patient id <input id="f-patient" type="search" placeholder="Patient/…"></label>'
        '<label>Date from <input id="f-from" type="date"></label>'
        '<label>Date to <input id="f-to" type="date"></label>'
        f'<label>Held by rule <select id="f-rule"><option value="">any</option>{options}</select></label>'
        f'<label>Status <select id="f-status"><option value="">any</option>{statuses}</select></label>'
        '<button type="reset">Clear</button>'
        '<span class="muted"><span id="shown">0</span> case(s) shown</span></form>'
    )


def _section(anchor: str, title: str, intro: str, cases: list[ReviewCase], names: dict[str, str]) -> str:
    body = "".join(_case(case, names) for case in cases) or '<p class="muted">None.</p>'
    return f'<section id="{anchor}"><h2>{_e(title)} ({len(cases)})</h2><p class="muted">{_e(intro)}</p>{body}</section>'


def _case(case: ReviewCase, names: dict[str, str]) -> str:
    who = _e(case.patient) + (f" &middot; {_e(names[case.patient])}" if case.patient in names else "")
    code = _code(case)
    head = (
        f"<h3>{who} &middot; {_e(case.service_date or 'date not known')} &middot; {code}</h3>"
        f'<p class="meta">{_e(_STATUS_WORDS.get(case.status, case.status))}: {_e(case.key)}'
        + (f" &middot; {_e(case.task)}" if case.task else "")
        + (f" &middot; rendered by {_e(case.clinician)}" if case.clinician else "")
        + "</p>"
    )
    parts = [head]
    if case.reasons:
        parts.append(_reasons(case.reasons))
    if case.status == "draft":
        checks = [WHAT_TO_CHECK[r] for r in case.held_by if r in WHAT_TO_CHECK]
        if checks:
            parts.append('<p class="check"><b>What to check:</b> ' + _e("; ".join(checks)) + ".</p>")
    if case.why_cancelled:
        parts.append(f'<p class="why-cancelled"><b>Why cancelled:</b> {_e(case.why_cancelled)}</p>')
    if case.trace is not None:
        parts.append(_muscles(case.trace))
        parts.append(_trace(case.trace, open_=case.status != "active"))
    held_by = " ".join(case.held_by)
    return (
        f'<article class="case" id="{_e(case.key)}" data-status="{_e(case.status)}" data-patient="{_e(case.patient)}" '
        f'data-date="{_e(case.service_date)}" data-held-by="{_e(held_by)}">{"".join(parts)}</article>'
    )


def _code(case: ReviewCase) -> str:
    if case.cpt is None:
        return '<span class="code">no code</span>'
    shown = case.cpt + (" " + " ".join(case.modifiers) if case.modifiers else "")
    label = "would get " if case.status == "draft" else ""
    return f'{label}<span class="code" data-cpt="{_e(case.cpt)}">{_e(shown)}</span>'


def _reasons(reasons: Iterable[Finding]) -> str:
    items = "".join(
        f'<li data-rule="{_e(f.rule)}"><span class="rule">{_e(f.rule)}</span> {_e(f.message)}</li>' for f in reasons
    )
    return f'<ul class="reasons">{items}</ul>'


def _muscles(trace: Trace) -> str:
    rows = "".join(
        f'<tr class="muscle"><td>{_e(c.muscle.muscle)}</td><td>{_e(c.muscle.side)}</td>'
        f'<td class="sources">{"<br>".join(_e(s) for s in c.sources)}</td></tr>'
        for c in trace.counted
    )
    left_out = "".join(
        f'<tr class="not-counted"><td colspan="2">{_e(u.why)}</td><td class="sources">{_e(u.origin)}</td></tr>'
        for u in trace.not_counted
    )
    table = ""
    if rows:
        table += (
            f'<table class="muscles"><thead><tr><th>Muscle counted ({len(trace.counted)})</th><th>Side</th>'
            f"<th>Documented at</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    if left_out:
        table += (
            '<table class="left-out"><thead><tr><th colspan="2">Not counted, and why</th><th>Documented at</th></tr>'
            f"</thead><tbody>{left_out}</tbody></table>"
        )
    return table


def _trace(trace: Trace, open_: bool) -> str:
    steps = "".join(
        f'<li data-rule="{_e(s.rule)}"><span class="rule">{_e(s.rule)}</span> {_e(s.decided)}</li>' for s in trace.steps
    )
    warnings = "".join(
        f'<li data-rule="{_e(w.rule)}"><span class="rule">{_e(w.rule)}</span> {_e(w.message)}</li>'
        for w in trace.warnings
    )
    extra = f'<p class="muted">Warnings</p><ul class="warnings">{warnings}</ul>' if warnings else ""
    return (
        f'<details class="trace"{" open" if open_ else ""}><summary>Decision trace, rule by rule</summary>'
        f'<ol class="trace">{steps}</ol>{extra}</details>'
    )


def _warnings(review: Review) -> str:
    groups = review.warnings_by_kind()
    if not groups:
        return '<section id="warnings"><h2>Coding warnings (0)</h2><p class="muted">None.</p></section>'
    blocks = []
    for rule, kind, found in groups:
        items = "".join(f"<li>{_e(w.where)}: {_e(w.message)}</li>" for w in found)
        blocks.append(
            f'<details class="warning-kind" data-rule="{_e(rule)}" data-count="{len(found)}">'
            f'<summary><span class="rule">{_e(rule)}</span> {_e(kind)} &times; {len(found)}</summary>'
            f"<ul>{items}</ul></details>"
        )
    return (
        f'<section id="warnings"><h2>Coding warnings ({len(review.warnings)})</h2>'
        '<p class="muted">Grouped by kind; a warning never holds a case.</p>' + "".join(blocks) + "</section>"
    )


def _problems(problems: list[Warning]) -> str:
    if not problems:
        return '<section id="problems"><h2>Input problems (0)</h2><p class="muted">None.</p></section>'
    rows = "".join(f"<tr><td>{_e(p.rule)}</td><td>{_e(p.where)}</td><td>{_e(p.message)}</td></tr>" for p in problems)
    return (
        f'<section id="problems"><h2>Input problems ({len(problems)})</h2>'
        "<table><thead><tr><th>Severity</th><th>Where</th><th>Problem</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></section>"
    )


def _e(value: object) -> str:
    return escape(str(value), quote=True)
