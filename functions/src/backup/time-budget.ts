import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { ListOptions, OfficeRndReader, ResourcePage } from "../officernd/types";
import type { ResourceName } from "../officernd/resources";
import type { BackupHooks } from "./run-deps";

/**
 * A run's time budget: the point before its function's timeout at which it stops reading and
 * writing, so that it can still record why it stopped and free its lease. A run killed by the
 * platform records nothing and leaves its lease until it lapses.
 *
 * Past the budget, OfficeRnD requests are aborted, no write chunk starts, and the run records a
 * failed run (`time_budget`, retryable). Phases that do not stop by themselves (a Firestore page
 * being read) get STOP_GRACE_MS; then the run records without them.
 */

/**
 * What a deployed function keeps back from its `timeoutSeconds`: STOP_GRACE_MS for the phases
 * to stop, up to WIND_DOWN_STEP_MS each to record the run and release the lease, and a few
 * seconds for the function to return.
 */
export const FUNCTION_TIMEOUT_MARGIN_MS = 60_000;
/** How long the phases get to stop once the budget is spent before the run records anyway. */
export const STOP_GRACE_MS = 15_000;

/** The grace of a budget: STOP_GRACE_MS, or a quarter of a short budget (tests, the CLI), ≥ 1 s. */
export function stopGraceMs(budgetMs: number): number {
  // At least a second: a chunk of writes and a checkpoint must fit (a continuation needs them).
  return Math.min(STOP_GRACE_MS, Math.max(MIN_STOP_GRACE_MS, Math.round(budgetMs / 4)));
}
/** The shortest grace, whatever the budget. */
export const MIN_STOP_GRACE_MS = 1_000;
/** Longest wait for recording the run, and for releasing the lease, once the budget is spent. */
export const WIND_DOWN_STEP_MS = 20_000;

/** The budget of a run in a function with this timeout: the timeout less the margin. */
export function functionTimeBudgetMs(timeoutSeconds: number): number {
  const timeoutMs = timeoutSeconds * 1000;
  // A short timeout keeps at least half of itself for the run.
  return Math.max(timeoutMs - FUNCTION_TIMEOUT_MARGIN_MS, Math.round(timeoutMs / 2));
}

/** The run reached its time budget: what it was doing was stopped. */
export class TimeBudgetError extends Error {
  constructor(readonly budgetMs: number) {
    super(`time budget of ${formatSeconds(budgetMs)} spent`);
    this.name = "TimeBudgetError";
  }
}

export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(ms < 10_000 ? 1 : 0))} s`;
}

export interface TimeBudget {
  /** Null: no budget (the CLI without BACKUP_TIME_BUDGET_SECONDS). */
  readonly budgetMs: number | null;
  readonly spent: boolean;
  /** Aborted when the budget is spent. */
  readonly signal: AbortSignal;
  /** Resolves when the budget is spent (never, without a budget). */
  readonly whenSpent: Promise<void>;
  /** Something was stopped because of the budget (a read, a write chunk, the sync). */
  stopped: boolean;
  dispose(): void;
}

/** A budget of `budgetMs` from `startedAt` (performance.now()); none when undefined. */
export function startTimeBudget(budgetMs: number | undefined, startedAt: number): TimeBudget {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const whenSpent = new Promise<void>((resolve) => {
    if (budgetMs === undefined) return;
    const left = Math.max(0, startedAt + budgetMs - performance.now());
    timer = setTimeout(() => {
      controller.abort(new TimeBudgetError(budgetMs));
      resolve();
    }, left);
    timer.unref();
  });
  return {
    budgetMs: budgetMs ?? null,
    get spent() {
      return controller.signal.aborted;
    },
    signal: controller.signal,
    whenSpent,
    stopped: false,
    dispose: () => clearTimeout(timer),
  };
}

/**
 * The run's work, or null when it has not ended a grace (stopGraceMs) after the budget was spent:
 * the run then records without it (reads are harmless, no write chunk starts past the budget,
 * and every write is conditional on the version read).
 */
export async function withinBudget<T>(work: Promise<T>, budget: TimeBudget): Promise<T | null> {
  if (budget.budgetMs === null) return work;
  const grace = stopGraceMs(budget.budgetMs);
  const cutOff = budget.whenSpent.then(() => sleep(grace, null, { ref: false })).then(() => null);
  return Promise.race([work, cutOff]);
}

function budgetError(budget: TimeBudget): TimeBudgetError {
  budget.stopped = true;
  return new TimeBudgetError(budget.budgetMs ?? 0);
}

/**
 * The reader, stopping at the budget: its requests are aborted and its listings end with a
 * TimeBudgetError (which the plan reports as `time_budget`).
 */
export function budgetedReader(reader: OfficeRndReader, budget: TimeBudget): OfficeRndReader {
  if (budget.budgetMs === null) return reader;
  const withBudget = (signal: AbortSignal | undefined) =>
    signal ? AbortSignal.any([signal, budget.signal]) : budget.signal;
  const count = reader.count?.bind(reader);
  const exists = reader.exists?.bind(reader);
  return {
    async *pages(resource: ResourceName, options: ListOptions = {}): AsyncIterable<ResourcePage> {
      if (budget.spent) throw budgetError(budget);
      try {
        for await (const page of reader.pages(resource, {
          ...options,
          signal: withBudget(options.signal),
        })) {
          if (budget.spent) throw budgetError(budget);
          yield page;
        }
      } catch (error) {
        // The caller's own cancellation stays what it is; the budget's becomes a TimeBudgetError.
        if (budget.spent && !options.signal?.aborted) throw budgetError(budget);
        throw error;
      }
    },
    ...(count && {
      count: async (resource: ResourceName, options: { signal?: AbortSignal } = {}) => {
        if (budget.spent) throw budgetError(budget);
        try {
          return await count(resource, { ...options, signal: withBudget(options.signal) });
        } catch (error) {
          if (budget.spent) throw budgetError(budget);
          throw error;
        }
      },
    }),
    ...(exists && {
      exists: async (
        resource: ResourceName,
        id: string,
        options: { signal?: AbortSignal } = {},
      ) => {
        if (budget.spent) throw budgetError(budget);
        return exists(resource, id, { ...options, signal: withBudget(options.signal) });
      },
    }),
    stats: () => reader.stats(),
  };
}

/** The hooks, with the sync stopping after the chunk during which the budget was spent. */
export function budgetedHooks(hooks: BackupHooks | undefined, budget: TimeBudget): BackupHooks {
  if (budget.budgetMs === null) return hooks ?? {};
  return {
    ...hooks,
    afterWriteChunk: async (progress) => {
      await hooks?.afterWriteChunk?.(progress);
      // Checked last, right before the next chunk would start; after the last, nothing is left.
      if (budget.spent && progress.done < progress.total) throw budgetError(budget);
    },
  };
}
