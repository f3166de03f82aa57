/** Loading or configuring a plugin failed; the message says why (like Envoy's log line would). */
export class PluginLoadError extends Error {
  override readonly name = 'PluginLoadError';
}

/** A guest pointer/length fell outside linear memory; host calls turn this into INVALID_MEMORY_ACCESS. */
export class MemoryAccessError extends Error {
  override readonly name = 'MemoryAccessError';
}

/** WASI proc_exit unwinds the guest; the code is kept so `_start` exiting 0 is not a failure. */
export class ProcExit extends Error {
  override readonly name = 'ProcExit';
  constructor(readonly code: number) {
    super(`proc_exit(${code})`);
  }
}

/** One line for any thrown value: "Name: message". */
export function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
