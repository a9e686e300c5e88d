import uPlot from "uplot";
import { consistencySeries, recoveries, successRateSeries, type Point } from "./series";
import type { Snapshot } from "./api";

/**
 * The four dashboard metrics of the design document over the run history, drawn with uPlot
 * (small, canvas, no dependencies; bundled at build time). Each chart fills its box's width and
 * follows it when the window (a phone turned, say) changes.
 */

const PALETTE = [
  "#2563eb",
  "#db2777",
  "#059669",
  "#d97706",
  "#7c3aed",
  "#0891b2",
  "#65a30d",
  "#dc2626",
];
const HEIGHT = 200;

const live: { plot: uPlot; box: HTMLElement }[] = [];
const observer = new ResizeObserver(() => {
  for (const { plot, box } of live) plot.setSize({ width: box.clientWidth, height: HEIGHT });
});

/** Removes every chart (before a redraw, or when signing out). */
export function destroyCharts(): void {
  for (const { plot, box } of live.splice(0)) {
    observer.unobserve(box);
    plot.destroy();
  }
}

function emptyNote(box: HTMLElement, text: string): void {
  const note = document.createElement("p");
  note.className = "empty";
  note.textContent = text;
  box.replaceChildren(note);
}

function draw(
  box: HTMLElement,
  series: { label: string; color: string; points?: boolean }[],
  data: uPlot.AlignedData,
  y: { label: string; range?: [number, number] },
): void {
  box.replaceChildren();
  const opts: uPlot.Options = {
    width: Math.max(240, box.clientWidth),
    height: HEIGHT,
    scales: { x: { time: true }, y: y.range ? { range: y.range } : { auto: true } },
    axes: [
      { stroke: "#555", grid: { stroke: "#eee" } },
      {
        label: y.label,
        stroke: "#555",
        grid: { stroke: "#eee" },
        size: 56,
      },
    ],
    series: [
      {},
      ...series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 2,
        spanGaps: false,
        points: { show: true, size: s.points ? 8 : 5, fill: s.color },
        ...(s.points ? { paths: () => null } : {}),
      })),
    ],
    legend: { show: true, live: true },
    cursor: { drag: { x: false, y: false } },
  };
  const plot = new uPlot(opts, data, box);
  live.push({ plot, box });
  observer.observe(box);
}

const xs = (points: Point[]) => points.map((p) => p.x);
const ys = (points: Point[]) => points.map((p) => p.y);

export function drawCharts(
  boxes: Record<"consistency" | "success" | "recovery" | "volume", HTMLElement>,
  snapshot: Snapshot,
): void {
  destroyCharts();
  const { runs, status } = snapshot;
  if (runs.length === 0) {
    for (const box of Object.values(boxes)) emptyNote(box, "No runs yet.");
    return;
  }

  const consistency = consistencySeries(runs);
  draw(
    boxes.consistency,
    [{ label: "records in sync", color: PALETTE[0]! }],
    [xs(consistency), ys(consistency)],
    {
      label: "%",
      range: [0, 100],
    },
  );

  const success = successRateSeries(runs);
  draw(
    boxes.success,
    [{ label: "runs completed", color: PALETTE[2]! }],
    [xs(success), ys(success)],
    {
      label: "%",
      range: [0, 100],
    },
  );

  const { recoveries: done } = recoveries(runs);
  if (done.length === 0) {
    emptyNote(boxes.recovery, "No recovery in the runs shown: nothing has needed repairing.");
  } else {
    // Minutes while every recovery is short, hours otherwise: plain numbers on the axis.
    const hours = Math.max(...done.map((r) => r.ms)) >= 2 * 3_600_000;
    const unit = hours ? 3_600_000 : 60_000;
    draw(
      boxes.recovery,
      [{ label: "time to recover", color: PALETTE[1]!, points: true }],
      [done.map((r) => r.x), done.map((r) => Math.round((r.ms / unit) * 10) / 10)],
      { label: hours ? "hours" : "minutes" },
    );
  }

  // One line per data type: what OfficeRnD listed at each run (Firestore's count when the read failed).
  const types = Object.entries(status.metrics.dataVolume);
  const times = [
    ...new Set(
      types.flatMap(([, points]) => points.map((p) => Math.floor(Date.parse(p.at) / 1000))),
    ),
  ].sort((a, b) => a - b);
  const lines = types.map(([, points]) => {
    const byTime = new Map(
      points.map((p) => [Math.floor(Date.parse(p.at) / 1000), p.api ?? p.firestore]),
    );
    return times.map((t) => byTime.get(t) ?? null);
  });
  draw(
    boxes.volume,
    types.map(([name], i) => ({ label: name, color: PALETTE[i % PALETTE.length]! })),
    [times, ...lines],
    { label: "records" },
  );
}
