import { MemoryAccessError } from './errors';

export type Allocator = (size: number) => number;

/**
 * Bounds-checked access to a guest's linear memory. Views are taken afresh on every access because the
 * guest may grow its memory (e.g. inside malloc) between two host calls.
 */
export class GuestMemory {
  constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly allocate: Allocator,
  ) {}

  get byteLength(): number {
    return this.memory.buffer.byteLength;
  }

  private check(ptr: number, len: number): void {
    if (!Number.isInteger(ptr) || !Number.isInteger(len) || ptr < 0 || len < 0) {
      throw new MemoryAccessError(`bad pointer ${ptr}/${len}`);
    }
    if (ptr + len > this.memory.buffer.byteLength) {
      throw new MemoryAccessError(
        `${ptr}+${len} is beyond linear memory (${this.memory.buffer.byteLength} bytes)`,
      );
    }
  }

  /** A copy of guest bytes [ptr, ptr+len). */
  read(ptr: number, len: number): Buffer {
    ptr >>>= 0;
    len >>>= 0;
    this.check(ptr, len);
    return Buffer.from(new Uint8Array(this.memory.buffer, ptr, len));
  }

  readString(ptr: number, len: number): string {
    return this.read(ptr, len).toString('utf8');
  }

  write(ptr: number, bytes: Uint8Array): void {
    ptr >>>= 0;
    this.check(ptr, bytes.length);
    new Uint8Array(this.memory.buffer, ptr, bytes.length).set(bytes);
  }

  writeU32(ptr: number, value: number): void {
    ptr >>>= 0;
    this.check(ptr, 4);
    new DataView(this.memory.buffer).setUint32(ptr, value >>> 0, true);
  }

  writeU64(ptr: number, value: bigint): void {
    ptr >>>= 0;
    this.check(ptr, 8);
    new DataView(this.memory.buffer).setBigUint64(ptr, BigInt.asUintN(64, value), true);
  }

  readU32(ptr: number): number {
    ptr >>>= 0;
    this.check(ptr, 4);
    return new DataView(this.memory.buffer).getUint32(ptr, true);
  }

  /** Throws unless [ptr, ptr+len) is inside memory; used to validate out-params before side effects. */
  assertRange(ptr: number, len: number): void {
    this.check(ptr >>> 0, len >>> 0);
  }

  /**
   * Copies `bytes` into memory the guest allocator hands out, then writes pointer and size to the two
   * out-params (cpp-host's copyToPointerSize). An empty value writes a null pointer and size 0.
   */
  writeOut(bytes: Uint8Array, ptrPtr: number, sizePtr: number): void {
    this.assertRange(ptrPtr, 4);
    this.assertRange(sizePtr, 4);
    let ptr = 0;
    if (bytes.length > 0) {
      ptr = this.allocate(bytes.length) >>> 0;
      if (ptr === 0)
        throw new MemoryAccessError(`guest allocator returned 0 for ${bytes.length} bytes`);
      this.write(ptr, bytes);
    }
    this.writeU32(ptrPtr, ptr);
    this.writeU32(sizePtr, bytes.length);
  }
}
