import { startProcess, stopAllProcesses, waitForHttpOk } from './child-process';
import { freePort } from './ports';
import { WaitAborted, waitFor } from './wait-for';

afterAll(() => stopAllProcesses());

describe('waitFor', () => {
  it('treats errors from the check as "not yet"', async () => {
    let calls = 0;
    const value = await waitFor('the third call', () => {
      calls += 1;
      if (calls < 3) throw new Error('not yet');
      return calls;
    });
    expect(value).toBe(3);
  });

  it('gives up at once on WaitAborted instead of waiting out the deadline', async () => {
    let calls = 0;
    const waiting = waitFor(
      'something that cannot happen',
      () => {
        calls += 1;
        throw new WaitAborted('gave up');
      },
      { timeoutMs: 60_000 },
    );
    await expect(waiting).rejects.toThrow(/^gave up$/);
    expect(calls).toBe(1);
  });
});

describe('waitForHttpOk', () => {
  it('fails early, with the output, when the process exits before answering', async () => {
    const port = await freePort();
    const proc = startProcess(process.execPath, [
      '-e',
      'console.error("boom: bad setting"); process.exit(3)',
    ]);
    // The deadline is far beyond the test's own timeout: only the early exit can end this wait.
    const waiting = waitForHttpOk(proc, `http://127.0.0.1:${port}/readyz`, 600_000);
    await expect(waiting).rejects.toThrow(/process exited early \(code 3[\s\S]*boom: bad setting/);
  });
});
