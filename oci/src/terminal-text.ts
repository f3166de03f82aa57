/**
 * Text a registry chose (error messages, header values, media types, realms) must not reach a terminal raw: an
 * ESC or CSI starts an escape sequence (retitle the window, move the cursor, hide what follows), a CR or LF forges
 * lines that look like ours, and bidi overrides reorder what is read. Each such character is shown as a visible
 * `\uXXXX` instead, and the text is cut to `maxChars`.
 */
const UNSAFE = /[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/gu;

export function printable(text: string, maxChars = 8192): string {
  const cut = text.length > maxChars ? `${text.slice(0, maxChars)}... (cut)` : text;
  return cut.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
