import { Status } from './abi';

const MAX_SHARED_KEYS = 100_000;
const MAX_SHARED_VALUE_BYTES = 1 << 20;
const MAX_QUEUE_ITEMS = 10_000;

/** Key/value store shared by all VMs of a host, with compare-and-swap tokens (Envoy's shared data). */
/** Shared data as host calls use it: in this thread, or across VM worker threads. */
export interface SharedDataApi {
  get(key: string): { value: Buffer; cas: number } | undefined;
  set(key: string, value: Buffer, cas: number): Status;
}

/** Shared queues as host calls use them. */
export interface SharedQueuesApi {
  register(vmId: string, name: string, owner: QueueOwner): number;
  resolve(vmId: string, name: string): number | undefined;
  enqueue(id: number, value: Buffer): Status;
  dequeue(id: number): Buffer | Status.NOT_FOUND | Status.EMPTY;
}

export class SharedData implements SharedDataApi {
  private readonly entries = new Map<string, { value: Buffer; cas: number }>();
  private nextCas = 1;

  get(key: string): { value: Buffer; cas: number } | undefined {
    return this.entries.get(key);
  }

  set(key: string, value: Buffer, cas: number): Status {
    const existing = this.entries.get(key);
    if (existing && cas !== 0 && cas !== existing.cas) return Status.CAS_MISMATCH;
    if (value.length > MAX_SHARED_VALUE_BYTES) return Status.BAD_ARGUMENT;
    if (!existing && this.entries.size >= MAX_SHARED_KEYS) return Status.INTERNAL_FAILURE;
    this.entries.set(key, { value, cas: this.nextCas++ });
    if (this.nextCas > 0xffffffff) this.nextCas = 1;
    return Status.OK;
  }
}

export interface QueueOwner {
  vm: number;
  contextId: number;
}

interface Queue {
  id: number;
  owner: QueueOwner;
  items: Buffer[];
}

/** Named queues shared by all VMs; the registering context is told of new items (proxy_on_queue_ready). */
export class SharedQueues implements SharedQueuesApi {
  private readonly byName = new Map<string, Queue>();
  private readonly byId = new Map<number, Queue>();
  private nextId = 1;

  constructor(private readonly notify: (owner: QueueOwner, queueId: number) => void) {}

  private static key(vmId: string, name: string): string {
    return `${vmId}\0${name}`;
  }

  register(vmId: string, name: string, owner: QueueOwner): number {
    const key = SharedQueues.key(vmId, name);
    const existing = this.byName.get(key);
    if (existing) {
      existing.owner = owner;
      return existing.id;
    }
    const queue: Queue = { id: this.nextId++, owner, items: [] };
    this.byName.set(key, queue);
    this.byId.set(queue.id, queue);
    return queue.id;
  }

  resolve(vmId: string, name: string): number | undefined {
    return this.byName.get(SharedQueues.key(vmId, name))?.id;
  }

  enqueue(id: number, value: Buffer): Status {
    const queue = this.byId.get(id);
    if (!queue) return Status.NOT_FOUND;
    if (queue.items.length >= MAX_QUEUE_ITEMS) return Status.INTERNAL_FAILURE;
    queue.items.push(value);
    this.notify(queue.owner, id);
    return Status.OK;
  }

  dequeue(id: number): Buffer | Status.NOT_FOUND | Status.EMPTY {
    const queue = this.byId.get(id);
    if (!queue) return Status.NOT_FOUND;
    return queue.items.shift() ?? Status.EMPTY;
  }
}
