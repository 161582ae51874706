/// The live view's one page: plain HTML, CSS and a script that polls `/api/dashboard` every two seconds and draws
/// each campaign's measured policies (validation accuracy against the budget metric, budgets as lines) as SVG.
/// Self-contained: no assets, no external scripts, so it works on an air-gapped coordinator.
enum DashboardPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Seer coordinator</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .2em; } h2 { font-size: 1.15em; margin: 1.4em 0 .4em; }
table { border-collapse: collapse; margin: .3em 0; } th, td { padding: .2em .7em; border-bottom: 1px solid #ddd; text-align: left; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #777; } .bad { color: #b00; } .ok { color: #070; }
.campaign { border: 1px solid #ccc; border-radius: 6px; padding: .6em 1em; margin: .6em 0; }
.campaign svg { background: #fafafa; border: 1px solid #eee; }
</style>
</head>
<body>
<h1>Seer coordinator</h1>
<div id="status" class="muted">loading...</div>
<h2>Fleet</h2><div id="fleet"></div>
<h2>Campaigns</h2><div id="campaigns"></div>
<h2>Jobs</h2><div id="jobcounts"></div><div id="jobs"></div>
<h2>Deployments</h2><div id="deployments"></div>
<script>
"use strict";
const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
const num = (v, d = 2) => v == null ? "<span class=muted>-</span>" : Number(v).toFixed(d);
function table(head, rows) {
  if (!rows.length) return "<p class=muted>none</p>";
  return "<table><tr>" + head.map(h => "<th>" + h + "</th>").join("") + "</tr>" +
    rows.map(r => "<tr>" + r.map(c => "<td" + (typeof c === "number" ? " class=num" : "") + ">" + c + "</td>").join("") + "</tr>").join("") + "</table>";
}
function plot(c) {
  const pts = c.points.filter(p => p.complexity != null);
  if (!pts.length) return "<p class=muted>no measured policies yet</p>";
  const W = 560, H = 260, L = 48, B = 30, T = 10, R = 10;
  const budgets = c.budgets.filter(b => b.value != null);
  const xs = pts.map(p => p.complexity).concat(budgets.map(b => b.value));
  const ys = pts.map(p => p.accuracy);
  const x0 = 0, x1 = Math.max(...xs) * 1.05, y0 = Math.floor(Math.min(...ys) - 1), y1 = Math.ceil(Math.max(...ys) + 1);
  const X = v => L + (v - x0) / (x1 - x0 || 1) * (W - L - R), Y = v => H - B - (v - y0) / (y1 - y0 || 1) * (H - B - T);
  const colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
  let s = `<svg width="${W}" height="${H}" role="img" aria-label="accuracy against ${esc(c.metric)}">`;
  s += `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#999"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#999"/>`;
  for (let k = 0; k <= 4; k++) {
    const yv = y0 + (y1 - y0) * k / 4;
    s += `<text x="${L - 4}" y="${Y(yv) + 4}" font-size="10" text-anchor="end">${yv.toFixed(1)}</text>`;
  }
  s += `<text x="${(L + W) / 2}" y="${H - 6}" font-size="11" text-anchor="middle">${esc(c.metric)} (max ${x1.toExponential(2)})</text>`;
  for (const b of budgets) {
    s += `<line x1="${X(b.value)}" y1="${T}" x2="${X(b.value)}" y2="${H - B}" stroke="#aaa" stroke-dasharray="4 3"/>` +
         `<text x="${X(b.value) + 3}" y="${T + 10}" font-size="10">${esc(b.budget)}</text>`;
  }
  for (const p of pts) {
    s += `<circle cx="${X(p.complexity)}" cy="${Y(p.accuracy)}" r="3.5" fill="${colors[p.round % colors.length]}" fill-opacity="0.8"><title>round ${p.round}: ${p.accuracy.toFixed(2)}%</title></circle>`;
  }
  return s + "</svg><div class=muted>dots: measured policies, coloured by round; dashed: budgets</div>";
}
function render(d) {
  document.getElementById("status").textContent = "updated " + new Date(d.generated_at).toLocaleTimeString() +
    " - " + d.agents.length + " agents, " + d.campaigns.length + " campaigns";
  document.getElementById("fleet").innerHTML = table(
    ["agent", "device key", "executor", "hardware", "heartbeat age (ms)", "current job", "jobs done", "failures in a row", "quarantine left (s)", "profile"],
    d.agents.map(a => [esc(a.id), esc(a.device_key), esc(a.executor), esc(a.hardware), a.heartbeat_age_ms,
      a.current_job ? esc(a.current_job) : "<span class=muted>idle</span>", a.jobs_done, a.failures_in_a_row,
      a.quarantine_left_ms == null ? "" : "<span class=bad>" + (a.quarantine_left_ms / 1000).toFixed(1) + "</span>",
      esc(a.profile ?? "")]));
  document.getElementById("campaigns").innerHTML = d.campaigns.length ? d.campaigns.map(c =>
    `<div class="campaign" id="campaign-${esc(c.id)}"><b>${esc(c.id)}</b> - ${esc(c.model)}, ${esc(c.metric)} budgets -
     phase <b class="phase">${esc(c.phase)}</b>${c.round != null ? ", round " + c.round : ""} - <span class="measured">${c.measured}</span> of ${c.planned} measured` +
    (c.failed ? `, <span class=bad>${c.failed} failed</span>` : "") + `<div class=muted>${esc(c.detail)}</div>` +
    (c.view_error ? `<div class=bad>${esc(c.view_error)}</div>` : "") +
    table(["budget", "value", "best measured", "reported (validation / test)", "predicted"], c.budgets.map(b =>
      [esc(b.budget), b.value == null ? "" : Number(b.value).toExponential(3), num(b.best_measured),
       b.chosen_validation == null ? "" : num(b.chosen_validation) + " / " + num(b.chosen_test), num(b.chosen_predicted)])) +
    (c.predictor_round != null ? `<div>predictor on round ${c.predictor_round} before measuring it: mean |error| ${num(c.predictor_mean_absolute_error)} points, Kendall tau ${num(c.predictor_kendall_tau)}</div>` : "") +
    plot(c) + "</div>").join("") : "<p class=muted>none</p>";
  document.getElementById("jobcounts").innerHTML = table(Object.keys(d.jobs_by_state).sort(), [Object.keys(d.jobs_by_state).sort().map(k => d.jobs_by_state[k])]);
  document.getElementById("jobs").innerHTML = table(["job", "device key", "kind", "state", "attempts", "agent", "error"],
    d.recent_jobs.map(j => [esc(j.id), esc(j.device_key), esc(j.kind), j.state === "failed" ? "<span class=bad>failed</span>" : esc(j.state),
      j.attempts, esc(j.agent ?? ""), esc(j.error ?? "")]));
  document.getElementById("deployments").innerHTML = table(["id", "agent", "profile", "trigger", "state", "source", "campaign", "request to deployed (ms)", "message"],
    d.deployments.map(x => [esc(x.id), esc(x.agent), esc(x.profile), esc(x.trigger), esc(x.state), esc(x.source ?? ""),
      esc(x.campaign ?? ""), x.total_ms == null ? "" : Math.round(x.total_ms), esc(x.message ?? "")]));
}
async function poll() {
  try {
    const r = await fetch("/api/dashboard", {cache: "no-store"});
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
  } catch (e) {
    document.getElementById("status").innerHTML = "<span class=bad>coordinator unreachable: " + esc(e.message) + "</span>";
  }
  setTimeout(poll, 2000);
}
poll();
</script>
</body>
</html>
"""#
}
