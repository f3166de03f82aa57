import type { EventEmitter } from 'node:events';

/** Resolves on the stream's next 'drain' (or 'close'), leaving no listener behind. */
export function drained(stream: EventEmitter): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
