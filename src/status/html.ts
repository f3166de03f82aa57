import escapeHtml from 'escape-html';

/** Markup that is already safe: produced by `html` (or a constant), never from a raw string. */
export class SafeHtml {
  constructor(readonly markup: string) {}
  toString(): string {
    return this.markup;
  }
}

type Interpolated =
  SafeHtml | string | number | boolean | null | undefined | readonly Interpolated[];

function render(value: Interpolated): string {
  if (value instanceof SafeHtml) return value.markup;
  if (Array.isArray(value)) return value.map((item: Interpolated) => render(item)).join('');
  if (value === null || value === undefined) return '';
  return escapeHtml(String(value));
}

/**
 * A tagged template for server-rendered HTML: the literal parts are markup, every interpolated value is
 * escaped (escape-html: & < > " ') unless it is SafeHtml, so values from the network are always text.
 * Interpolations are only ever text or attribute values in double quotes, never inside <script>/<style>.
 */
export function html(strings: TemplateStringsArray, ...values: Interpolated[]): SafeHtml {
  let markup = strings[0];
  for (let i = 0; i < values.length; i++) markup += render(values[i]) + strings[i + 1];
  return new SafeHtml(markup);
}
