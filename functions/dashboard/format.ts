/** How figures are written on the page (pure; the browser test writes its expectations with it). */

export const DASH = "–";

export function formatPercent(value: number | null): string {
  return value === null ? DASH : `${Number(value.toFixed(2))}%`;
}

export function formatCount(value: number | null): string {
  return value === null ? DASH : value.toLocaleString("en-US");
}

/** 850 ms, 12.3 s, 4 min 5 s, 2 h 10 min, 3 d 4 h. */
export function formatDuration(ms: number | null): string {
  if (ms === null) return DASH;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number(s.toFixed(1))} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** `2026-12-01 14:05 UTC`: one zone for every reader, the one the schedule runs in. */
export function formatTime(iso: string | null): string {
  if (iso === null) return DASH;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return DASH;
  return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** A type's latest schema change: `+a, +b −c`; a dash when none. */
export function formatFieldChange(change: { added: string[]; removed: string[] } | null): string {
  if (change === null) return DASH;
  const parts = [...change.added.map((f) => `+${f}`), ...change.removed.map((f) => `−${f}`)];
  return parts.length === 0 ? DASH : parts.join(", ");
}
