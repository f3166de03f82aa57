import { readFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';

/** Where the memory limit came from: a setting, the container's cgroup, or V8's heap limit. */
export type MemoryLimitSource = 'setting' | 'cgroup' | 'heap';

export interface MemorySettings {
  /** The memory mesha may use in all. */
  limitBytes: number;
  limitSource: MemoryLimitSource;
  /** What the series of every capped metric may take (their samples, their share of a render). */
  budgetBytes: number;
}

/** Share of the usable memory given to series when MEMORY_BUDGET_BYTES is unset (see README, Limits). */
export const DEFAULT_BUDGET_SHARE = 0.3;

/** cgroup v2 `memory.max`, else v1 `memory.limit_in_bytes`; undefined when unlimited or unknown. */
export function cgroupMemoryLimit(read: (path: string) => string = readText): number | undefined {
  for (const path of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    const text = read(path).trim();
    if (!text || !/^[0-9]+$/.test(text)) continue; // missing, or "max"
    const bytes = Number(text);
    // cgroup v1 reports "unlimited" as a page-rounded 2^63.
    if (bytes > 0 && bytes < 2 ** 60) return bytes;
  }
  return undefined;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * The memory limit (the setting, else the cgroup's, else V8's heap limit) and the series budget (the
 * setting, else DEFAULT_BUDGET_SHARE of what is usable: the smaller of the limit and the heap limit,
 * since series live on the heap whatever the container allows).
 */
export function memorySettings(
  configured: { limitBytes?: number; budgetBytes?: number },
  cgroupLimit: number | undefined = cgroupMemoryLimit(),
  heapLimit: number = getHeapStatistics().heap_size_limit,
): MemorySettings {
  const [limitBytes, limitSource]: [number, MemoryLimitSource] =
    configured.limitBytes !== undefined
      ? [configured.limitBytes, 'setting']
      : cgroupLimit !== undefined
        ? [cgroupLimit, 'cgroup']
        : [heapLimit, 'heap'];
  const budgetBytes =
    configured.budgetBytes ?? Math.floor(DEFAULT_BUDGET_SHARE * Math.min(limitBytes, heapLimit));
  return { limitBytes, limitSource, budgetBytes };
}

/** What a guard draws its series' bytes from. */
export interface SeriesBytes {
  tryReserve(cost: number): boolean;
  release(cost: number): void;
  /** Bytes this account could still take. */
  readonly remaining: number;
}

/** Share of the budget set aside as equal floors, so that no metric can starve the others. */
export const FLOOR_SHARE = 0.25;

/**
 * Bytes shared by every capped metric. Each metric has an account: FLOOR_SHARE of the budget is
 * split equally among the accounts as floors a metric always gets, the rest is a pool the first to
 * need it takes. So a flood of label sets in one family fills the pool and that family's floor,
 * never the floors of the others (the seed's mesha_reports_total keeps its share).
 */
export class MemoryBudget {
  private readonly accounts: BudgetAccount[] = [];

  constructor(readonly bytes: number) {}

  /** A new account (one per capped metric); the floors are re-split among all accounts. */
  account(): BudgetAccount {
    const account = new BudgetAccount(this);
    this.accounts.push(account);
    return account;
  }

  get used(): number {
    return this.accounts.reduce((total, a) => total + a.used, 0);
  }

  /** @internal */
  floor(): number {
    return (FLOOR_SHARE * this.bytes) / Math.max(1, this.accounts.length);
  }

  /** @internal Pool bytes still free. */
  poolFree(): number {
    const floor = this.floor();
    const taken = this.accounts.reduce((total, a) => total + Math.max(0, a.used - floor), 0);
    return Math.max(0, (1 - FLOOR_SHARE) * this.bytes - taken);
  }
}

export class BudgetAccount implements SeriesBytes {
  used = 0;

  constructor(private readonly budget: MemoryBudget) {}

  get remaining(): number {
    return Math.max(0, this.budget.floor() - this.used) + this.budget.poolFree();
  }

  tryReserve(cost: number): boolean {
    const floor = this.budget.floor();
    const fromPool = Math.max(0, this.used + cost - floor) - Math.max(0, this.used - floor);
    if (fromPool > this.budget.poolFree()) return false;
    this.used += cost;
    return true;
  }

  release(cost: number): void {
    this.used = Math.max(0, this.used - cost);
  }
}
