import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
  type PathLike,
} from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';

/** The first bytes of a mesha state file: a name no other program writes, then the format version. */
const MAGIC = Buffer.from('mesha-state\n', 'latin1');
export const STATE_FORMAT_VERSION = 1;
const HEADER_BYTES = MAGIC.length + 4;
/** Per record: payload length, then the CRC-32 of the payload. */
const RECORD_HEAD_BYTES = 8;
/** A record bigger than this cannot be one mesha wrote (a report body is at most 64 MiB). */
const MAX_RECORD_BYTES = 256 * 1024 * 1024;

/** A state file that mesha must not use: foreign, of another format version, or damaged. */
export class StateFileError extends Error {
  override name = 'StateFileError';
}

export interface ReadLog {
  records: Buffer[];
  /** Bytes of a last record cut short by a crash (never acknowledged, so safely dropped). */
  tornTailBytes: number;
}

/**
 * Reads a state log. The header must be mesha's and of this version; every record's CRC must
 * match. Only the very last record, if it is not the first, may be incomplete or fail its CRC: that
 * is an append a crash interrupted before its fsync, which was therefore never acknowledged.
 * Anything else is damage.
 */
export function readLog(path: string): ReadLog {
  const data = readFileSync(path);
  if (data.length < HEADER_BYTES || !data.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new StateFileError(`${path} is not a mesha state file (its first bytes are not mesha's)`);
  }
  const version = data.readUInt32BE(MAGIC.length);
  if (version !== STATE_FORMAT_VERSION) {
    throw new StateFileError(
      `${path} has state format version ${version}; this mesha reads version ${STATE_FORMAT_VERSION}`,
    );
  }
  const records: Buffer[] = [];
  let at = HEADER_BYTES;
  // The first record is written whole before a rename (rewriteLog), so it is never torn: only an
  // appended record can be.
  const torn = (left: number): ReadLog => {
    if (records.length === 0) {
      throw new StateFileError(
        `${path} is damaged at byte ${at}: its first record is incomplete or fails its checksum`,
      );
    }
    return { records, tornTailBytes: left };
  };
  while (at < data.length) {
    const left = data.length - at;
    if (left < RECORD_HEAD_BYTES) return torn(left);
    const length = data.readUInt32BE(at);
    if (length > MAX_RECORD_BYTES) {
      throw new StateFileError(
        `${path} is damaged at byte ${at}: impossible record length ${length}`,
      );
    }
    const end = at + RECORD_HEAD_BYTES + length;
    if (end > data.length) return torn(left);
    const payload = data.subarray(at + RECORD_HEAD_BYTES, end);
    if (crc32(payload) !== data.readUInt32BE(at + 4)) {
      if (end === data.length) return torn(left);
      throw new StateFileError(`${path} is damaged at byte ${at}: a record fails its checksum`);
    }
    records.push(payload);
    at = end;
  }
  return { records, tornTailBytes: 0 };
}

/** A record as it is written: length, CRC-32, payload. */
export function frame(payload: Buffer): Buffer {
  const head = Buffer.alloc(RECORD_HEAD_BYTES);
  head.writeUInt32BE(payload.length, 0);
  head.writeUInt32BE(crc32(payload), 4);
  return Buffer.concat([head, payload]);
}

function header(): Buffer {
  const version = Buffer.alloc(4);
  version.writeUInt32BE(STATE_FORMAT_VERSION);
  return Buffer.concat([MAGIC, version]);
}

function fsyncDir(path: PathLike): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces the file at `path` with a header and `records`, atomically: written to a temporary file,
 * fsynced, renamed over `path`, and the directory fsynced. A crash leaves the old file or the new one.
 */
export function rewriteLog(path: string, records: Buffer[]): void {
  const temporary = `${path}.new`;
  const fd = openSync(temporary, 'w', 0o600);
  try {
    writeSync(fd, Buffer.concat([header(), ...records.map(frame)]));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
  fsyncDir(dirname(path));
}

/** Why the state log could not make records durable: the errno code, never a path. */
export class StateWriteError extends Error {
  override name = 'StateWriteError';
  constructor(
    /** The system error code (ENOSPC, EIO, EROFS...), or 'unknown'. */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function writeErrorOf(err: unknown): StateWriteError {
  if (err instanceof StateWriteError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const known = typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : 'unknown';
  return new StateWriteError(known, `the state log could not be written (${known})`);
}

interface Waiting {
  /** Absent for a sync() marker. */
  record: Buffer | undefined;
  /**
   * Set for a record applied only once durable: called (synchronously, before any later snapshot
   * is taken) when its group is on disk. Records without it were applied before append(), so every
   * snapshot already holds them.
   */
  onDurable: (() => void) | undefined;
  resolve(): void;
  reject(err: Error): void;
}

export interface CompactOptions {
  /** The file is compacted between groups once it is bigger than this. */
  bytes: number;
  /** The records to keep: the whole state as it is in memory now. */
  snapshot: () => Buffer[];
}

export interface GroupCommitOptions {
  /**
   * After a failed write, groups arriving within this many ms are refused at once (the disk is not
   * hammered by every report); the first one after it tries again.
   */
  retryAfterMs?: number;
  now?: () => number;
  /** Told of each failed group write, and of the first success after failures. */
  onFailure?: (error: StateWriteError) => void;
  onRecovered?: () => void;
}

/**
 * Appends records with group commit: records that arrive while a write is under way wait for the
 * next one, and one fdatasync makes a whole group durable. append() resolves once its record is.
 *
 * A failed write (ENOSPC, EIO...) rejects its group and leaves nothing half-kept: the file is not
 * appended to again (a partial write or a lost page-cache write may sit at its end) but rewritten
 * whole, from a snapshot, by the next group; so the log recovers by itself once the disk does.
 */
export class GroupCommitLog {
  private waiting: Waiting[] = [];
  /** The group being written (a sync() marker may still join it: it is settled as a whole). */
  private inFlight: Waiting[] | undefined;
  private writing: Promise<void> | undefined;
  private file: FileHandle | undefined;
  private sizeBytes: number;
  /** Set by a failed write: the next group rewrites the file instead of appending. */
  private failure: { error: StateWriteError; atMs: number } | undefined;
  private readonly retryAfterMs: number;
  private readonly now: () => number;
  private readonly onFailure: (error: StateWriteError) => void;
  private readonly onRecovered: () => void;

  constructor(
    private readonly path: string,
    /** Its size now (it was just written whole by rewriteLog). */
    size: number,
    private readonly compact: CompactOptions,
    options: GroupCommitOptions = {},
  ) {
    this.sizeBytes = size;
    this.retryAfterMs = options.retryAfterMs ?? 1000;
    this.now = options.now ?? Date.now;
    this.onFailure = options.onFailure ?? (() => undefined);
    this.onRecovered = options.onRecovered ?? (() => undefined);
  }

  static async open(
    path: string,
    compact: CompactOptions,
    options?: GroupCommitOptions,
  ): Promise<GroupCommitLog> {
    const file = await open(path, 'a');
    const { size } = await file.stat();
    await file.close();
    return new GroupCommitLog(path, size, compact, options);
  }

  /** Groups committed, records in them, the file's size now, and failed group writes. */
  readonly stats = { groups: 0, records: 0, bytes: 0, failures: 0 };

  /** The last write failure, while the log has not recovered from it. */
  get failed(): StateWriteError | undefined {
    return this.failure?.error;
  }

  append(record: Buffer, onDurable?: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ record, onDurable, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Resolves once everything appended so far is durable; after a failure, it makes the log try
   * again (a rewrite) even if nothing new was appended.
   */
  sync(): Promise<void> {
    // The marker joins the group of the newest record (queued, or being written): no extra commit.
    const group = this.waiting.length > 0 ? this.waiting : this.inFlight;
    if (!group && !this.failure) return Promise.resolve();
    return new Promise((resolve, reject) => {
      (group ?? this.waiting).push({ record: undefined, onDurable: undefined, resolve, reject });
      if (!group) this.schedule();
    });
  }

  /** Starts a writer unless one runs; a record queued as the last one finished gets a new one. */
  private schedule(): void {
    if (this.writing || this.waiting.length === 0) return;
    this.writing = this.writeGroups().finally(() => {
      this.writing = undefined;
      this.schedule();
    });
  }

  /** Waits for every record appended so far to be written (or to fail), then closes the file. */
  async close(): Promise<void> {
    while (this.writing) await this.writing;
    await this.file?.close();
    this.file = undefined;
  }

  private async writeGroups(): Promise<void> {
    while (this.waiting.length > 0) {
      const group = this.waiting;
      this.waiting = [];
      const failure = this.failure;
      if (failure && this.now() - failure.atMs < this.retryAfterMs) {
        for (const w of group) w.reject(failure.error);
        continue;
      }
      try {
        this.inFlight = group;
        await this.writeGroup(group);
      } catch (err) {
        this.inFlight = undefined;
        const error = writeErrorOf(err);
        this.failure = { error, atMs: this.now() };
        this.stats.failures++;
        this.onFailure(error);
        for (const w of group) w.reject(error);
        continue;
      }
      this.inFlight = undefined;
      if (failure) this.onRecovered();
      this.failure = undefined;
      this.stats.bytes = this.sizeBytes;
      this.stats.groups++;
      for (const w of group) {
        if (w.record) this.stats.records++;
        try {
          w.onDurable?.();
        } catch (err) {
          w.reject(err as Error); // its own failure; the rest of the group is still durable
        }
      }
      for (const w of group) w.resolve(); // no effect on one rejected just above
    }
  }

  private async writeGroup(group: Waiting[]): Promise<void> {
    const records = group.flatMap((w) => (w.record ? [w] : []));
    if (this.failure || this.sizeBytes > this.compact.bytes) {
      // The snapshot holds what was applied before append(); records applied once durable follow it.
      const pending = records.flatMap((w) => (w.onDurable && w.record ? [w.record] : []));
      await this.rewrite([...this.compact.snapshot(), ...pending]);
      return;
    }
    if (records.length === 0) return;
    const data = Buffer.concat(records.map((w) => frame(w.record as Buffer)));
    this.file ??= await open(this.path, 'a');
    await this.file.write(data);
    await this.file.datasync();
    this.sizeBytes += data.length;
  }

  private async rewrite(records: Buffer[]): Promise<void> {
    const previous = this.file;
    this.file = undefined;
    await previous?.close().catch(() => undefined); // a handle a failed write left behind
    rewriteLog(this.path, records);
    this.file = await open(this.path, 'a');
    this.sizeBytes = (await this.file.stat()).size;
  }
}
