import { randomFillSync } from 'node:crypto';
import { ProcExit } from './errors';
import type { GuestMemory } from './guest-memory';
import { LogLevel } from './abi';

/** WASI preview1 errno values the host answers with. */
const ERRNO_SUCCESS = 0;
const ERRNO_BADF = 8;
const ERRNO_INVAL = 28;
const ERRNO_NOSYS = 52;

/** Every WASI preview1 function name; those without an implementation answer ENOSYS. */
export const WASI_FUNCTIONS: readonly string[] = [
  'args_get',
  'args_sizes_get',
  'environ_get',
  'environ_sizes_get',
  'clock_res_get',
  'clock_time_get',
  'fd_advise',
  'fd_allocate',
  'fd_close',
  'fd_datasync',
  'fd_fdstat_get',
  'fd_fdstat_set_flags',
  'fd_fdstat_set_rights',
  'fd_filestat_get',
  'fd_filestat_set_size',
  'fd_filestat_set_times',
  'fd_pread',
  'fd_prestat_get',
  'fd_prestat_dir_name',
  'fd_pwrite',
  'fd_read',
  'fd_readdir',
  'fd_renumber',
  'fd_seek',
  'fd_sync',
  'fd_tell',
  'fd_write',
  'path_create_directory',
  'path_filestat_get',
  'path_filestat_set_times',
  'path_link',
  'path_open',
  'path_readlink',
  'path_remove_directory',
  'path_rename',
  'path_symlink',
  'path_unlink_file',
  'poll_oneoff',
  'proc_exit',
  'proc_raise',
  'sched_yield',
  'random_get',
  'sock_accept',
  'sock_recv',
  'sock_send',
  'sock_shutdown',
];

export const WASI_MODULES: readonly string[] = ['wasi_snapshot_preview1', 'wasi_unstable'];

export interface WasiEnv {
  memory(): GuestMemory;
  /** Wall clock, ns since the epoch. */
  now(): bigint;
  log(level: LogLevel, message: string): void;
  unimplemented(name: string): void;
}

type WasiFn = (...args: Array<number | bigint>) => number | void;

const n = (v: number | bigint): number => Number(v);

/** WASI functions as cpp-host provides them: stdout/stderr become log lines, no files, no env, no args. */
export function createWasiImports(env: WasiEnv): Record<string, WasiFn> {
  const monotonicStart = process.hrtime.bigint();
  const zeroPair = (aPtr: number | bigint, bPtr: number | bigint): number => {
    env.memory().writeU32(n(aPtr), 0);
    env.memory().writeU32(n(bPtr), 0);
    return ERRNO_SUCCESS;
  };
  const impl: Record<string, WasiFn> = {
    fd_write(fd, iovs, iovsLen, nwrittenPtr) {
      const mem = env.memory();
      const parts: Buffer[] = [];
      for (let i = 0; i < n(iovsLen); i++) {
        const base = n(iovs) + i * 8;
        parts.push(mem.read(mem.readU32(base), mem.readU32(base + 4)));
      }
      const data = Buffer.concat(parts);
      mem.writeU32(n(nwrittenPtr), data.length);
      if (n(fd) !== 1 && n(fd) !== 2) return ERRNO_BADF;
      const text = data.toString('utf8').replace(/\n$/, '');
      if (text.length > 0) env.log(n(fd) === 1 ? LogLevel.INFO : LogLevel.ERROR, text);
      return ERRNO_SUCCESS;
    },
    fd_read: () => ERRNO_NOSYS,
    fd_close: () => ERRNO_SUCCESS,
    fd_seek: () => ERRNO_BADF,
    fd_fdstat_get(fd, statPtr) {
      if (n(fd) > 2) return ERRNO_BADF;
      const mem = env.memory();
      const stat = Buffer.alloc(24);
      stat.writeUInt8(2, 0); // filetype: character device
      mem.write(n(statPtr), stat);
      return ERRNO_SUCCESS;
    },
    fd_prestat_get: () => ERRNO_BADF, // no preopened directories: ends wasi-libc's preopen scan
    fd_prestat_dir_name: () => ERRNO_BADF,
    clock_time_get(id, _precision, outPtr) {
      const clock = n(id);
      if (clock === 0) env.memory().writeU64(n(outPtr), env.now());
      else if (clock === 1 || clock === 2 || clock === 3)
        env.memory().writeU64(n(outPtr), process.hrtime.bigint() - monotonicStart);
      else return ERRNO_INVAL;
      return ERRNO_SUCCESS;
    },
    clock_res_get(_id, outPtr) {
      env.memory().writeU64(n(outPtr), 1n);
      return ERRNO_SUCCESS;
    },
    random_get(bufPtr, len) {
      const bytes = Buffer.alloc(n(len));
      randomFillSync(bytes);
      env.memory().write(n(bufPtr), bytes);
      return ERRNO_SUCCESS;
    },
    environ_sizes_get: zeroPair,
    environ_get: () => ERRNO_SUCCESS,
    args_sizes_get: zeroPair,
    args_get: () => ERRNO_SUCCESS,
    sched_yield: () => ERRNO_SUCCESS,
    proc_exit(code) {
      throw new ProcExit(n(code));
    },
  };
  const imports: Record<string, WasiFn> = {};
  for (const name of WASI_FUNCTIONS) {
    imports[name] =
      impl[name] ??
      (() => {
        env.unimplemented(`wasi.${name}`);
        return ERRNO_NOSYS;
      });
  }
  return imports;
}
