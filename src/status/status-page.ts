import { html, SafeHtml } from './html';
import type { StatusSnapshot } from './status.service';

/** Seconds between the page's own reloads. */
export const REFRESH_SECONDS = 10;

/** Everything the page needs is inline: no script, no external asset, nothing else may load. */
export const STATUS_PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2330; background: #fafbfc; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; } h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
.meta { color: #5b6475; } table { border-collapse: collapse; background: #fff; }
th, td { text-align: left; padding: .3rem .7rem; border-bottom: 1px solid #e3e6eb; vertical-align: top; }
td.name { max-width: 24rem; overflow-wrap: anywhere; }
th { background: #eef1f5; font-weight: 600; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
code { font-family: ui-monospace, monospace; word-break: break-all; } td.id code { white-space: nowrap; word-break: normal; }
.warn { background: #fff3cd; } .bad { background: #f8d7da; }
footer { margin-top: 2rem; color: #5b6475; } a { color: #2456a6; }
`;

export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const parts: Array<[number, string]> = [
    [Math.floor(s / 86400), 'd'],
    [Math.floor((s % 86400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'm'],
    [s % 60, 's'],
  ];
  const first = parts.findIndex(([n]) => n > 0);
  return first === -1
    ? '0s'
    : parts
        .slice(first)
        .map(([n, unit]) => `${n}${unit}`)
        .join(' ');
}

const number = (n: number) => n.toLocaleString('en-US');

function reportersSection(status: StatusSnapshot): SafeHtml {
  const { live, windowSeconds, shown, truncated } = status.reporters;
  const rows = shown.map(
    (r) =>
      html`<tr data-reporter="${r.id}">
        <td class="id"><code>${r.id}</code></td>
        <td class="name">${r.workload}</td>
        <td class="name">${r.namespace}</td>
        <td class="name">${r.pod}</td>
        <td title="${r.lastSeen}">${formatDuration(r.lastSeenSecondsAgo)} ago</td>
        <td class="n">${r.lastSeq}</td>
        <td class="n${r.duplicates > 0 ? ' warn' : ''}">${r.duplicates}</td>
      </tr>`,
  );
  const window = `a valid report within the last ${windowSeconds} s`;
  const listed = truncated ? `; the ${shown.length} stalest are listed` : '';
  return html`<h2>Reporters</h2>
    <p id="reporters-live">${number(live)} live (${window})${listed}.</p>
    ${
      shown.length === 0
        ? html`<p>No reporter has reported yet.</p>`
        : html`<table id="reporters">
            <thead>
              <tr>
                <th>id</th>
                <th>workload</th>
                <th>namespace</th>
                <th>pod</th>
                <th>last seen</th>
                <th>last seq</th>
                <th>duplicates</th>
              </tr>
            </thead>
            <tbody>
              ${rows}
            </tbody>
          </table>`
    }`;
}

function seriesSection(status: StatusSnapshot): SafeHtml {
  const rows = status.series.map((s) => {
    const used = s.limit > 0 ? s.series / s.limit : 0;
    const level = s.dropped > 0 || used >= 1 ? 'bad' : used >= 0.8 ? 'warn' : '';
    return html`<tr class="${level}">
      <td><code>${s.metric}</code></td>
      <td class="n">${number(s.series)}</td>
      <td class="n">${number(s.limit)}</td>
      <td class="n">${(used * 100).toFixed(1)} %</td>
      <td class="n">${number(s.dropped)}</td>
    </tr>`;
  });
  return html`<h2>Series against the budget</h2>
    <table id="series">
      <thead>
        <tr>
          <th>metric</th>
          <th>label sets</th>
          <th>limit (MAX_SERIES or the memory budget)</th>
          <th>used</th>
          <th>updates to __overflow__</th>
        </tr>
      </thead>
      <tbody>
        ${rows}
      </tbody>
    </table>`;
}

function rejectionsSection(status: StatusSnapshot): SafeHtml {
  const rows = status.rejections.map(
    (r) =>
      html`<tr class="${r.total > 0 ? 'warn' : ''}">
        <td>${r.reason}</td>
        <td class="n">${number(r.total)}</td>
      </tr>`,
  );
  return html`<h2>Rejected reports</h2>
    <table id="rejections">
      <thead>
        <tr>
          <th>reason</th>
          <th>total</th>
        </tr>
      </thead>
      <tbody>
        ${rows}
      </tbody>
    </table>
    <p id="duplicates">
      ${number(status.duplicates)} duplicate structured reports (received again, not counted).
    </p>`;
}

function filterSection(status: StatusSnapshot): SafeHtml {
  const f = status.filter;
  const body = f.served
    ? html`<table id="filter">
        <tr>
          <th>route</th>
          <td>
            <a href="${f.route}"><code>${f.route}</code></a>
          </td>
        </tr>
        <tr>
          <th>size</th>
          <td>${number(f.bytes)} bytes</td>
        </tr>
        <tr>
          <th>sha256</th>
          <td><code>${f.sha256}</code></td>
        </tr>
      </table>`
    : html`<p id="filter">Not served (${f.reason}).</p>`;
  return html`<h2>Reporter build (filter.wasm)</h2>
    ${body}`;
}

/** The whole page: every value in `status` lands in the markup escaped. */
export function renderStatusPage(status: StatusSnapshot): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta http-equiv="refresh" content="${REFRESH_SECONDS}" />
        <link rel="icon" href="data:," />
        <title>mesha status</title>
        <style>
          ${new SafeHtml(STYLE)}
        </style>
      </head>
      <body>
        <h1>mesha ${status.version}</h1>
        <p class="meta">
          up ${formatDuration(status.uptimeSeconds)} (since ${status.startedAt}); as of
          ${status.now}, refreshed every ${REFRESH_SECONDS} s
        </p>
        ${reportersSection(status)} ${seriesSection(status)} ${rejectionsSection(status)}
        ${filterSection(status)}
        <footer>
          <a href="metrics">/metrics</a> · <a href="api/v1/status">/api/v1/status</a> ·
          <a href="healthz">/healthz</a> · <a href="readyz">/readyz</a>
        </footer>
      </body>
    </html> `.markup;
}
