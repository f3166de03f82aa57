import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  frame,
  GroupCommitLog,
  readLog,
  rewriteLog,
  StateFileError,
  StateWriteError,
} from './state-log';

describe('state log', () => {
  let dir: string;
  let path: string;
  const texts = (records: Buffer[]) => records.map((r) => r.toString());

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mesha-state-'));
    path = join(dir, 'mesha-state.log');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads back what was written and appended', async () => {
    rewriteLog(path, [Buffer.from('snapshot')]);
    const log = await GroupCommitLog.open(path, { bytes: 1 << 30, snapshot: () => [] });
    await Promise.all(['a', 'b', 'c'].map((r) => log.append(Buffer.from(r))));
    await log.close();
    expect(texts(readLog(path).records)).toEqual(['snapshot', 'a', 'b', 'c']);
  });

  it('commits concurrent appends in groups (one fdatasync for many records)', async () => {
    rewriteLog(path, []);
    const log = await GroupCommitLog.open(path, { bytes: 1 << 30, snapshot: () => [] });
    await Promise.all(Array.from({ length: 200 }, (_, i) => log.append(Buffer.from(`r${i}`))));
    await log.close();
    expect(log.stats.records).toBe(200);
    expect(log.stats.groups).toBeLessThan(20);
    expect(readLog(path).records).toHaveLength(200);
  });

  it('compacts into the snapshot once the file is past the bound, and appends after it', async () => {
    rewriteLog(path, []);
    const log = await GroupCommitLog.open(path, {
      bytes: 64,
      snapshot: () => [Buffer.from('SNAP')],
    });
    for (let i = 0; i < 8; i++) await log.append(Buffer.from(`record-${i}-padding-padding`));
    await log.close();
    const records = texts(readLog(path).records);
    expect(records[0]).toBe('SNAP');
    expect(records.length).toBeLessThan(8);
  });

  it('drops a last record cut short by a crash (it was never acknowledged)', () => {
    rewriteLog(path, [Buffer.from('kept')]);
    const whole = frame(Buffer.from('torn record'));
    appendFileSync(path, whole.subarray(0, whole.length - 3));
    expect(readLog(path)).toEqual({
      records: [Buffer.from('kept')],
      tornTailBytes: whole.length - 3,
    });
  });

  it('refuses a damaged record that is not the last one', () => {
    rewriteLog(path, [Buffer.from('first'), Buffer.from('second')]);
    const data = readFileSync(path);
    data[16 + 8 + 1] ^= 0xff; // a byte of the first record's payload
    writeFileSync(path, data);
    expect(() => readLog(path)).toThrow(StateFileError);
    expect(() => readLog(path)).toThrow(/is damaged at byte 16: a record fails its checksum/);
  });

  it('refuses a damaged first record even when it is the only one (a snapshot is never torn)', () => {
    rewriteLog(path, [Buffer.from('the whole state')]);
    const data = readFileSync(path);
    data[data.length - 1] ^= 0x01;
    writeFileSync(path, data);
    expect(() => readLog(path)).toThrow(
      /is damaged at byte 16: its first record is incomplete or fails its checksum/,
    );
    writeFileSync(path, data.subarray(0, data.length - 4));
    expect(() => readLog(path)).toThrow(/its first record is incomplete/);
  });

  it('refuses a file that is not mesha state, or of another format version', () => {
    writeFileSync(path, 'some other program wrote this file\n');
    expect(() => readLog(path)).toThrow(/is not a mesha state file/);
    rewriteLog(path, []);
    const data = readFileSync(path);
    data.writeUInt32BE(2, 12);
    writeFileSync(path, data);
    expect(() => readLog(path)).toThrow(/has state format version 2; this mesha reads version 1/);
  });

  describe('when the disk fails', () => {
    // The state directory removed under the log: opening the file fails with ENOENT, a real error
    // from the kernel (root is not stopped by permissions); put back, the disk "works again".
    const open = (events: string[], now = () => 0, retryAfterMs = 0) => {
      rewriteLog(path, [Buffer.from('start')]);
      let state = 'S1';
      const log = new GroupCommitLog(
        path,
        statSync(path).size,
        { bytes: 1 << 30, snapshot: () => [Buffer.from(state)] },
        {
          retryAfterMs,
          now,
          onFailure: (e) => events.push(`failed ${e.code}`),
          onRecovered: () => events.push('recovered'),
        },
      );
      return { log, setState: (s: string) => (state = s) };
    };

    it('rejects the group, applies nothing deferred, and the next group rewrites the file whole', async () => {
      const events: string[] = [];
      const { log, setState } = open(events);
      rmSync(dir, { recursive: true });
      const applied: string[] = [];
      const failed = log.append(Buffer.from('t1'), () => applied.push('t1'));
      await expect(failed).rejects.toBeInstanceOf(StateWriteError);
      await expect(failed).rejects.toMatchObject({ code: 'ENOENT' });
      const error = await failed.then(
        () => new Error('resolved'),
        (e: Error) => e,
      );
      expect(error.message).not.toContain(dir);
      expect(applied).toEqual([]);
      expect(log.failed?.code).toBe('ENOENT');
      await expect(log.sync()).rejects.toMatchObject({ code: 'ENOENT' }); // it tries again

      mkdirSync(dir);
      setState('S2'); // what memory holds now (structured reports applied meanwhile)
      await log.append(Buffer.from('t2'), () => applied.push('t2'));
      expect(applied).toEqual(['t2']);
      expect(log.failed).toBeUndefined();
      await log.append(Buffer.from('r3'));
      await log.close();
      expect(texts(readLog(path).records)).toEqual(['S2', 't2', 'r3']);
      expect(events).toEqual(['failed ENOENT', 'failed ENOENT', 'recovered']);
      expect(log.stats.failures).toBe(2);
    });

    it('refuses at once within retryAfterMs of a failure, then tries again', async () => {
      const events: string[] = [];
      let now = 0;
      const { log } = open(events, () => now, 1000);
      rmSync(dir, { recursive: true });
      await expect(log.append(Buffer.from('a'))).rejects.toMatchObject({ code: 'ENOENT' });
      mkdirSync(dir);
      now = 999;
      await expect(log.append(Buffer.from('b'))).rejects.toMatchObject({ code: 'ENOENT' });
      expect(events).toEqual(['failed ENOENT']); // not tried: no new failure
      now = 1000;
      await log.append(Buffer.from('c'), () => undefined); // applied once durable: after the snapshot
      await log.close();
      expect(texts(readLog(path).records)).toEqual(['S1', 'c']);
      expect(events).toEqual(['failed ENOENT', 'recovered']);
    });
  });
});
