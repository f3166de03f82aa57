/** One shell command from a README's fenced `sh` block. */
export interface ReadmeCommand {
  file: string;
  /** 1-based line of the command's first line */
  line: number;
  /** as written, continuation lines joined, a trailing comment kept (bash ignores it) */
  text: string;
  /** the command without its trailing comment, whitespace runs collapsed: what runners and skips are keyed by */
  key: string;
  /** its trailing `# ...` comment, without the `#` */
  comment?: string;
  /** comment lines right after it: its expected output where the README shows one */
  following: string[];
}

const FENCE = /^\s*(`{3,}|~{3,})\s*([\w+-]*)/;
const SHELL_LANGUAGES = new Set(['sh', 'bash', 'shell', 'console']);

/** Where the comment of a shell line starts: a `#` at a word start, outside quotes. -1 when there is none. */
export function commentStart(line: string): number {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '\\') i++;
    else if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) return i;
  }
  return -1;
}

/**
 * Every command in the fenced shell blocks of a Markdown text, in document order. A line ending in `\` continues
 * on the next; a line that is only a comment belongs to the command before it (or to none at the start of a block
 * or after a blank line).
 */
export function shellCommands(file: string, markdown: string): ReadmeCommand[] {
  const lines = markdown.split('\n');
  const commands: ReadmeCommand[] = [];
  let fence: string | undefined;
  let shell = false;
  let last: ReadmeCommand | undefined;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const opening = FENCE.exec(raw);
    if (fence === undefined) {
      if (opening) {
        fence = opening[1];
        shell = SHELL_LANGUAGES.has(opening[2].toLowerCase());
        last = undefined;
      }
      continue;
    }
    if (raw.trim().startsWith(fence) && raw.trim().replace(/[`~]/g, '') === '') {
      fence = undefined;
      continue;
    }
    if (!shell) continue;
    const trimmed = raw.trim();
    if (trimmed === '') {
      last = undefined;
      continue;
    }
    if (trimmed.startsWith('#')) {
      last?.following.push(trimmed.replace(/^#\s?/, ''));
      continue;
    }
    const start = i;
    let text = raw.trimEnd();
    while (text.endsWith('\\') && i + 1 < lines.length) {
      i++;
      text = `${text.slice(0, -1).trimEnd()} ${lines[i].trim()}`;
    }
    const hash = commentStart(text);
    const code = hash === -1 ? text : text.slice(0, hash);
    last = {
      file,
      line: start + 1,
      text: text.trim(),
      key: code.trim().replace(/\s+/g, ' '),
      comment: hash === -1 ? undefined : text.slice(hash + 1).trim(),
      following: [],
    };
    commands.push(last);
  }
  return commands;
}
