import { PluginLoadError } from './errors';

const PAGE = 65536;
const MEMORY_SECTION = 5;

function readLeb(bytes: Uint8Array, pos: number): [value: number, next: number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (pos >= bytes.length) throw new PluginLoadError('not a valid Wasm module: truncated LEB128');
    const b = bytes[pos++];
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [value, pos];
    shift += 7;
    if (shift > 35) throw new PluginLoadError('not a valid Wasm module: LEB128 too long');
  }
}

function leb(value: number): number[] {
  const out: number[] = [];
  do {
    let b = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) b |= 0x80;
    out.push(b);
  } while (value > 0);
  return out;
}

/**
 * The module with its memory's maximum lowered to `maxBytes`, as Envoy's V8 caps Wasm memory (1 GiB by
 * default): past it memory.grow answers -1, which plugins' allocators turn into a trap, and a trap fails
 * the VM. A module whose declared minimum is already larger does not load.
 */
export function capMemory(module: Uint8Array, maxBytes: number): Uint8Array {
  const maxPages = Math.floor(maxBytes / PAGE);
  // Not a Wasm binary: leave it to the compiler to say so.
  if (
    module.length < 8 ||
    module[0] !== 0 ||
    module[1] !== 0x61 ||
    module[2] !== 0x73 ||
    module[3] !== 0x6d
  ) {
    return module;
  }
  let pos = 8;
  while (pos < module.length) {
    const id = module[pos];
    const [size, contentStart] = readLeb(module, pos + 1);
    const contentEnd = contentStart + size;
    if (id !== MEMORY_SECTION) {
      pos = contentEnd;
      continue;
    }
    let p = contentStart;
    const [count, afterCount] = readLeb(module, p);
    p = afterCount;
    const content: number[] = leb(count);
    for (let i = 0; i < count; i++) {
      const flags = module[p++];
      if (flags & 0x04) throw new PluginLoadError('memory64 modules are not supported');
      const [min, afterMin] = readLeb(module, p);
      p = afterMin;
      let max = maxPages;
      if (flags & 0x01) {
        const [declared, afterMax] = readLeb(module, p);
        p = afterMax;
        max = Math.min(declared, maxPages);
      }
      if (min > maxPages) {
        throw new PluginLoadError(
          `Wasm module asks for ${min * PAGE} bytes of memory, more than the limit of ${maxBytes}`,
        );
      }
      content.push(flags | 0x01, ...leb(min), ...leb(max));
    }
    const section = [MEMORY_SECTION, ...leb(content.length), ...content];
    const out = new Uint8Array(pos + section.length + (module.length - contentEnd));
    out.set(module.subarray(0, pos), 0);
    out.set(section, pos);
    out.set(module.subarray(contentEnd), pos + section.length);
    return out;
  }
  return module;
}
