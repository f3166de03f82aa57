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

interface Waiting {
  record: Buffer;
  resolve(): void;
  reject(err: Error): void;
}

/**
 * Appends records with group commit: records that arrive while a write is under way wait for the
 * next one, and one fdatasync makes a whole group durable. append() resolves once its record is.
 */
export class GroupCommitLog {
  private waiting: Waiting[] = [];
  private writing: Promise<void> | undefined;
  private sizeBytes: number;
  private broken: Error | undefined;

  private constructor(
    private readonly path: string,
    private file: FileHandle,
    size: number,
    /** Called between groups when the file has grown past `compactBytes`; returns the records to keep. */
    private readonly compact: { bytes: number; snapshot: () => Buffer[] },
  ) {
    this.sizeBytes = size;
  }

  static async open(
    path: string,
    compact: { bytes: number; snapshot: () => Buffer[] },
  ): Promise<GroupCommitLog> {
    const file = await open(path, 'a');
    const { size } = await file.stat();
    return new GroupCommitLog(path, file, size, compact);
  }

  /** Groups committed, records in them, and the file's size now. */
  readonly stats = { groups: 0, records: 0, bytes: 0 };

  append(record: Buffer): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      this.waiting.push({ record, resolve, reject });
      this.schedule();
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

  /** Waits for every record appended so far to be durable, then closes the file. */
  async close(): Promise<void> {
    while (this.writing) await this.writing;
    await this.file.close();
  }

  private async writeGroups(): Promise<void> {
    while (this.waiting.length > 0) {
      const group = this.waiting;
      this.waiting = [];
      try {
        if (this.sizeBytes > this.compact.bytes) {
          // The snapshot already holds the group's records (they were applied before append()).
          await this.rewrite(this.compact.snapshot());
        } else {
          const data = Buffer.concat(group.map((w) => frame(w.record)));
          await this.file.write(data);
          await this.file.datasync();
          this.sizeBytes += data.length;
        }
        this.stats.bytes = this.sizeBytes;
        this.stats.groups++;
        this.stats.records += group.length;
        for (const w of group) w.resolve();
      } catch (err) {
        this.broken = new Error(`state log ${this.path}: ${(err as Error).message}`);
        for (const w of [...group, ...this.waiting]) w.reject(this.broken);
        this.waiting = [];
        return;
      }
    }
  }

  private async rewrite(records: Buffer[]): Promise<void> {
    await this.file.close();
    rewriteLog(this.path, records);
    this.file = await open(this.path, 'a');
    this.sizeBytes = (await this.file.stat()).size;
  }
}
