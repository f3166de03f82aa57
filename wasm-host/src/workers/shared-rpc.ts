import type { MessagePort } from 'node:worker_threads';
import { Status } from '../abi';
import type {
  QueueOwner,
  SharedData,
  SharedDataApi,
  SharedQueues,
  SharedQueuesApi,
} from '../shared-state';

/** Reply slot layout (Int32 words, then bytes): status, number (cas / queue id, -1 = none), length. */
const HEADER = 12;
/** Room for the largest shared value (1 MiB) plus the header. */
export const REPLY_BYTES = (1 << 20) + HEADER;
/** A worker gives up waiting for the main thread after this long (INTERNAL_FAILURE). */
const WAIT_MS = 5_000;

export type SharedOp =
  | { op: 'get'; key: string }
  | { op: 'set'; key: string; value: Uint8Array; cas: number }
  | { op: 'register'; vmId: string; name: string; contextId: number }
  | { op: 'resolve'; vmId: string; name: string }
  | { op: 'enqueue'; id: number; value: Uint8Array }
  | { op: 'dequeue'; id: number };

interface Reply {
  status: number;
  num: number;
  bytes: Buffer | undefined;
}

/**
 * The main thread's shared data and queues, reached synchronously from a VM worker (host calls are
 * synchronous): the worker posts the operation and sleeps on an Atomics word until the main thread has
 * written the answer into the shared reply slot.
 */
export class RemoteSharedState implements SharedDataApi, SharedQueuesApi {
  private readonly control: Int32Array;
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;

  constructor(
    private readonly port: MessagePort,
    control: SharedArrayBuffer,
    reply: SharedArrayBuffer,
  ) {
    this.control = new Int32Array(control);
    this.words = new Int32Array(reply, 0, 3);
    this.bytes = new Uint8Array(reply, HEADER);
  }

  private call(op: SharedOp): Reply {
    Atomics.store(this.control, 0, 0);
    this.port.postMessage({ t: 'sync', s: op });
    if (Atomics.wait(this.control, 0, 0, WAIT_MS) === 'timed-out') {
      return { status: Status.INTERNAL_FAILURE, num: -1, bytes: undefined };
    }
    const [status, num, length] = this.words;
    const bytes = length >= 0 ? Buffer.from(this.bytes.subarray(0, length)) : undefined;
    return { status, num, bytes };
  }

  get(key: string): { value: Buffer; cas: number } | undefined {
    const r = this.call({ op: 'get', key });
    return r.status === Status.OK && r.bytes ? { value: r.bytes, cas: r.num >>> 0 } : undefined;
  }

  set(key: string, value: Buffer, cas: number): Status {
    return this.call({ op: 'set', key, value, cas }).status;
  }

  register(vmId: string, name: string, owner: QueueOwner): number {
    return this.call({ op: 'register', vmId, name, contextId: owner.contextId }).num;
  }

  resolve(vmId: string, name: string): number | undefined {
    const r = this.call({ op: 'resolve', vmId, name });
    return r.num < 0 ? undefined : r.num;
  }

  enqueue(id: number, value: Buffer): Status {
    return this.call({ op: 'enqueue', id, value }).status;
  }

  dequeue(id: number): Buffer | Status.NOT_FOUND | Status.EMPTY {
    const r = this.call({ op: 'dequeue', id });
    if (r.status === Status.OK && r.bytes) return r.bytes;
    return r.status === Status.EMPTY ? Status.EMPTY : Status.NOT_FOUND;
  }
}

/** Main thread: answers one worker's operation into its reply slot and wakes it. */
export function answerShared(
  op: SharedOp,
  vm: number,
  shared: SharedData,
  queues: SharedQueues,
  control: SharedArrayBuffer,
  reply: SharedArrayBuffer,
): void {
  let status: number = Status.OK;
  let num = -1;
  let bytes: Uint8Array | undefined;
  switch (op.op) {
    case 'get': {
      const entry = shared.get(op.key);
      if (entry) [num, bytes] = [entry.cas | 0, entry.value];
      else status = Status.NOT_FOUND;
      break;
    }
    case 'set':
      status = shared.set(op.key, Buffer.from(op.value), op.cas);
      break;
    case 'register':
      num = queues.register(op.vmId, op.name, { vm, contextId: op.contextId });
      break;
    case 'resolve':
      num = queues.resolve(op.vmId, op.name) ?? -1;
      break;
    case 'enqueue':
      status = queues.enqueue(op.id, Buffer.from(op.value));
      break;
    case 'dequeue': {
      const item = queues.dequeue(op.id);
      if (typeof item === 'number') status = item;
      else bytes = item;
      break;
    }
  }
  const words = new Int32Array(reply, 0, 3);
  words[0] = status;
  words[1] = num;
  words[2] = bytes ? bytes.length : -1;
  if (bytes) new Uint8Array(reply, HEADER).set(bytes);
  const ctl = new Int32Array(control);
  Atomics.store(ctl, 0, 1);
  Atomics.notify(ctl, 0);
}
