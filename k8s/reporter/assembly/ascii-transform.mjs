// An asc transform: `ascii('text')` in the reporter's sources becomes static bytes,
// `memory.data<u8>([length (u16, little-endian), ...text])`, instead of a UTF-16 String object
// with its 20-byte header: templates and log lines are written out as bytes anyway, and this
// halves their share of the binary. Only printable ASCII is accepted.
import { Transform } from 'assemblyscript/transform';
import { Node, NodeKind } from 'assemblyscript';

function asciiCall(node) {
  return (
    node &&
    node.kind === NodeKind.Call &&
    node.expression.kind === NodeKind.Identifier &&
    node.expression.text === 'ascii' &&
    node.args.length === 1 &&
    node.args[0].kind === NodeKind.Literal &&
    typeof node.args[0].value === 'string'
  );
}

function bytesOf(node) {
  const text = node.args[0].value;
  if (!/^[\x20-\x7e]*$/.test(text) || text.length > 0xffff)
    throw new Error(`ascii(): not printable ASCII or too long: ${JSON.stringify(text)}`);
  const range = node.range;
  const int = (n) => Node.createIntegerLiteralExpression(i64_new(n, 0), range);
  const values = [int(text.length & 0xff), int(text.length >> 8)];
  for (let i = 0; i < text.length; i++) values.push(int(text.charCodeAt(i)));
  return Node.createCallExpression(
    Node.createPropertyAccessExpression(
      Node.createIdentifierExpression('memory', range),
      Node.createIdentifierExpression('data', range),
      range,
    ),
    [Node.createNamedType(Node.createSimpleTypeName('u8', range), null, false, range)],
    [Node.createArrayLiteralExpression(values, range)],
    range,
  );
}

function walk(node, seen) {
  if (!node || typeof node !== 'object' || seen.has(node)) return;
  seen.add(node);
  for (const key of Object.keys(node)) {
    if (key === 'range' || key === 'parent') continue;
    const value = node[key];
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        if (asciiCall(value[i])) value[i] = bytesOf(value[i]);
        else walk(value[i], seen);
      }
    } else if (value && typeof value === 'object') {
      if (asciiCall(value)) node[key] = bytesOf(value);
      else walk(value, seen);
    }
  }
}

export default class AsciiTransform extends Transform {
  afterParse(parser) {
    const seen = new Set();
    for (const source of parser.sources) {
      if (source.normalizedPath.startsWith('k8s/reporter/')) walk(source, seen);
    }
  }
}
