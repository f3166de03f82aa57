export type HostArg = number | bigint;
export type HostFunction = (...args: HostArg[]) => number | void;
export type HostFunctions = Record<string, HostFunction>;

/** Guest pointers/sizes are u32; i64 arguments arrive as bigint. */
export const u32 = (v: HostArg): number =>
  typeof v === 'number' ? v >>> 0 : Number(BigInt.asUintN(32, v));
export const i32 = (v: HostArg): number =>
  typeof v === 'number' ? v | 0 : Number(BigInt.asIntN(32, v));
export const i64 = (v: HostArg): bigint => BigInt.asIntN(64, BigInt(v));
