import { startSandbox, type Sandbox } from "../dev/sandbox";
import { loadOfficeRndConfig } from "../src/config";
import { setLogSink } from "../src/logs";
import { createOfficeRndClient, type OfficeRndClient } from "../src/officernd/client";
import { PAGE_SIZE } from "../src/officernd/query";
import { RESOURCE_NAMES, type ResourceName } from "../src/officernd/resources";
import { BENCH_SIZES, MemoryWatch, liveHeap, table, type Sample } from "./measure";

/**
 * OfficeRnD client benchmark against the local sandbox: 10,000 members, 2,000 companies and
 * 5,000 opportunities behind a read budget and a per-request latency. Prints, does not assert:
 *   requests made vs the minimum (one per page, one token),
 *   wall time vs the rate-limit floor (API requests ÷ read budget),
 *   peak RSS and heap, for a run that keeps every record and for one that streams pages.
 */

const SIZES = BENCH_SIZES;
/**
 * Same budget on both sides: the client must use it fully without ever being throttled. The
 * pages of one listing are serial (each cursor comes from the page before), so the spacing
 * (60 000 / 2 000 = 30 ms) is kept above one round trip (20 ms latency + overhead): once the
 * smaller resources are done, members alone can still use the whole budget.
 */
const READS_PER_MINUTE = 2_000;
const LATENCY_MS = 20;

interface VariantResult {
  name: string;
  apiRequests: number;
  tokenRequests: number;
  retries: number;
  throttledByServer: number;
  records: number;
  rejected: number;
  wallMs: number;
  peak: Sample;
  /** Most records the consumer held at once. */
  heldRecords: number;
  /** Live heap (after GC) in the middle of the run. */
  liveHeap: number;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 200));
}

async function runVariant(
  sandbox: Sandbox,
  name: string,
  read: (client: OfficeRndClient) => Promise<{ records: number; held: number; live: number }>,
): Promise<VariantResult> {
  const config = loadOfficeRndConfig(
    sandbox.env({ OFFICERND_READS_PER_MINUTE: String(READS_PER_MINUTE) }),
  );
  const client = createOfficeRndClient(config);
  const throttledBefore = sandbox.stats.throttled;
  const watch = new MemoryWatch().start();
  const started = Date.now();
  const { records, held, live } = await read(client);
  const wallMs = Date.now() - started;
  const peak = watch.stop();
  const stats = client.stats();
  client.close();
  return {
    name,
    apiRequests: stats.requests,
    tokenRequests: stats.tokenRequests,
    retries: stats.retries,
    throttledByServer: sandbox.stats.throttled - throttledBefore,
    records,
    rejected: stats.rejected,
    wallMs,
    peak,
    heldRecords: held,
    liveHeap: live,
  };
}

export async function benchClient(): Promise<void> {
  setLogSink(() => undefined); // one DEBUG entry per request would swamp the figures

  const seedStarted = Date.now();
  const sandbox = await startSandbox({
    seed: { ...SIZES, seed: 1 },
    readsPerMinute: READS_PER_MINUTE,
    latencyMs: LATENCY_MS,
    logLimit: 1_000,
  });
  const seedMs = Date.now() - seedStarted;
  const pages = RESOURCE_NAMES.map((r) => Math.max(1, Math.ceil(SIZES[r] / PAGE_SIZE)));
  const minimumApi = pages.reduce((a, b) => a + b, 0);
  const floorMs = (minimumApi / READS_PER_MINUTE) * 60_000;
  await settle();
  const baselineLive = liveHeap();
  const baseline = process.memoryUsage();

  try {
    // Streaming first: RSS rarely shrinks, so the smaller footprint must be measured first.
    const streaming = await runVariant(sandbox, "streaming (pages)", async (client) => {
      let records = 0;
      let held = 0;
      let live = 0;
      const inHand = new Map<ResourceName, number>();
      await Promise.all(
        RESOURCE_NAMES.map(async (resource) => {
          for await (const page of client.pages(resource)) {
            inHand.set(resource, page.records.length);
            held = Math.max(
              held,
              [...inHand.values()].reduce((a, b) => a + b, 0),
            );
            records += page.records.length;
            // Halfway through the largest listing: what is alive now is all a stream needs.
            if (resource === "members" && page.page === 100) live = liveHeap();
          }
          inHand.set(resource, 0);
        }),
      );
      return { records, held, live };
    });
    await settle();
    const collecting = await runVariant(sandbox, "collecting (readAll)", async (client) => {
      const listings = await Promise.all(RESOURCE_NAMES.map((r) => client.readAll(r)));
      const records = listings.reduce((n, l) => n + l.records.length, 0);
      return { records, held: records, live: liveHeap() };
    });

    const rows = [
      ["", "streaming (pages)", "collecting (readAll)"],
      ...(
        [
          ["records read", (v) => String(v.records)],
          ["requests (API + token)", (v) => `${v.apiRequests} + ${v.tokenRequests}`],
          ["minimum (pages + token)", () => `${minimumApi} + 1`],
          ["retries / 429s from server", (v) => `${v.retries} / ${v.throttledByServer}`],
          ["wall time", (v) => s(v.wallMs)],
          ["rate-limit floor", () => s(floorMs)],
          ["wall / floor", (v) => `${(v.wallMs / floorMs).toFixed(3)}×`],
          ["peak RSS", (v) => mb(v.peak.rss)],
          ["peak RSS over baseline", (v) => mb(v.peak.rss - baseline.rss)],
          ["peak heap over baseline", (v) => mb(v.peak.heap - baseline.heapUsed)],
          ["records held at once", (v) => String(v.heldRecords)],
          ["live heap over baseline", (v) => mb(v.liveHeap - baselineLive)],
        ] as [string, (v: VariantResult) => string][]
      ).map(([label, cell]) => [label, cell(streaming), cell(collecting)]),
    ];

    console.log(
      `\nOfficeRnD client: ${SIZES.members} members, ${SIZES.companies} companies, ` +
        `${SIZES.opportunities} opportunities; read budget ${READS_PER_MINUTE}/min on both sides, ` +
        `${LATENCY_MS} ms latency per request; sandbox seeded in ${seedMs} ms; ` +
        `baseline RSS ${mb(baseline.rss)} (sandbox data included)\n`,
    );
    console.log(table(rows));
    console.log(
      `\nTargets: requests = minimum exactly; wall ≤ 1.15 × floor; streaming holds at most ` +
        `one page per resource in hand (${PAGE_SIZE * RESOURCE_NAMES.length} records) plus one ` +
        `page fetched ahead per resource.\n`,
    );
  } finally {
    await sandbox.close();
    setLogSink(null);
  }
}
