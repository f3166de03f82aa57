import { html, SafeHtml } from './html';
import { formatDuration } from './status-page';

describe('html (tagged template)', () => {
  it('escapes every interpolated value and keeps the literal markup', () => {
    const value = `<script>alert("x")</script> & 'quoted'`;
    expect(html`<td title="${value}">${value}</td>`.markup).toBe(
      '<td title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;">' +
        '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;</td>',
    );
  });

  it('nests SafeHtml and arrays without escaping twice; null and undefined render as nothing', () => {
    const rows = ['<a>', 'b'].map((v) => html`<li>${v}</li>`);
    // Prettier formats html`` templates: compare without the whitespace it adds.
    const list = html`<ul>
      ${rows}${null}${undefined}${3}
    </ul>`;
    expect(list.markup.replace(/\s+/g, '')).toBe('<ul><li>&lt;a&gt;</li><li>b</li>3</ul>');
    expect(html`${new SafeHtml('<b>kept</b>')}`.markup).toBe('<b>kept</b>');
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [59, '59s'],
    [61, '1m 1s'],
    [3725, '1h 2m 5s'],
    [90061, '1d 1h 1m 1s'],
    [86400, '1d 0h 0m 0s'],
  ])('%d s -> %s', (seconds, shown) => expect(formatDuration(seconds)).toBe(shown));
});
