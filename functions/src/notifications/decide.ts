import { NOTIFIED_CONDITIONS, type NotifiedCondition } from "./conditions";

/**
 * When to send (pure). Each channel remembers the conditions it was last told were open and when
 * it was last told anything. A message goes out when that set differs from the open conditions
 * now (a transition: something opened, or resolved), or, while something stays open, once a day
 * as a reminder. A failed delivery leaves the channel's memory as it was, so the next check
 * (after the next run, or the hourly check) finds the same difference and tries again.
 */

/** At most one reminder a day for conditions that stay open. */
export const REMINDER_INTERVAL_MS = 24 * 3_600_000;

export interface ChannelMemory {
  /** What the channel was last told is open. */
  open: readonly NotifiedCondition[];
  /** When it was last told anything; null: never. */
  lastSentAt: Date | null;
}

export const NOTHING_TOLD: ChannelMemory = { open: [], lastSentAt: null };

/**
 * - `alert`: something opened (others may have resolved at the same time);
 * - `recovery`: everything the channel knew of resolved, nothing is open;
 * - `change`: some resolved, others stay open, nothing new;
 * - `reminder`: nothing changed, still open, a day since the last message.
 */
export type NotificationKind = "alert" | "recovery" | "change" | "reminder";

export interface Decision {
  kind: NotificationKind;
  opened: NotifiedCondition[];
  resolved: NotifiedCondition[];
  /** Open now (what the channel will have been told once this is delivered). */
  open: NotifiedCondition[];
}

const ordered = (codes: Iterable<NotifiedCondition>): NotifiedCondition[] => {
  const set = new Set(codes);
  return NOTIFIED_CONDITIONS.filter((c) => set.has(c));
};

export function decide(
  memory: ChannelMemory,
  openNow: readonly NotifiedCondition[],
  now: Date,
): Decision | null {
  const open = ordered(openNow);
  const opened = open.filter((c) => !memory.open.includes(c));
  const resolved = ordered(memory.open.filter((c) => !open.includes(c)));
  if (opened.length > 0) return { kind: "alert", opened, resolved, open };
  if (resolved.length > 0) {
    return { kind: open.length === 0 ? "recovery" : "change", opened, resolved, open };
  }
  if (open.length === 0) return null;
  const since = memory.lastSentAt?.getTime() ?? Number.NEGATIVE_INFINITY;
  if (now.getTime() - since < REMINDER_INTERVAL_MS) return null;
  return { kind: "reminder", opened, resolved, open };
}
