import { commentStart, shellCommands } from './readme-walk';

// The extraction the README walk stands on: which lines of a Markdown file are commands, and how they are keyed.
describe('shellCommands', () => {
  const md = [
    'Intro `npm run not-a-command` in prose.',
    '',
    '```sh',
    '# a heading comment belongs to no command',
    'npm ci && npm start     # mesha on 0.0.0.0:7171',
    "curl -s -X POST 'http://x/a?b=1' \\",
    "  -H 'h: v #not a comment' \\",
    '  --data-binary "it\'s #1"',
    '# expected output',
    '#   indented too',
    '',
    '# about the next one',
    'echo "$TOKEN" | tool   push   X',
    '```',
    '',
    '```yaml',
    'url: oci://x',
    '```',
    '',
    '~~~bash',
    'kubectl kustomize k8s/overlays/generic',
    '~~~',
    '',
    '```',
    'plain-fence-not-shell',
    '```',
  ].join('\n');
  const commands = shellCommands('X.md', md);

  it('takes the commands of sh and bash blocks only, in order, with their line', () => {
    expect(commands.map((c) => [c.line, c.key])).toEqual([
      [5, 'npm ci && npm start'],
      [6, "curl -s -X POST 'http://x/a?b=1' -H 'h: v #not a comment' --data-binary \"it's #1\""],
      [13, 'echo "$TOKEN" | tool push X'],
      [21, 'kubectl kustomize k8s/overlays/generic'],
    ]);
  });

  it('keeps the text as written, with its trailing comment apart', () => {
    expect(commands[0].text).toBe('npm ci && npm start     # mesha on 0.0.0.0:7171');
    expect(commands[0].comment).toBe('mesha on 0.0.0.0:7171');
    expect(commands[1].comment).toBeUndefined();
  });

  it('gives each command the comment lines right after it (its shown output), none across a blank line', () => {
    expect(commands[0].following).toEqual([]);
    expect(commands[1].following).toEqual(['expected output', '  indented too']);
    expect(commands[2].following).toEqual([]);
  });

  it('finds a comment only at a word start outside quotes', () => {
    expect(commentStart('a # b')).toBe(2);
    expect(commentStart("a '# b' c")).toBe(-1);
    expect(commentStart('a "x \\" # y" z')).toBe(-1);
    expect(commentStart('a b#c')).toBe(-1);
    expect(commentStart('a \\# b # c')).toBe(7);
  });
});
