import { writeFileSync } from "node:fs";
import process from "node:process";
import { setInterval } from "node:timers";
import { getHeapStatistics } from "node:v8";

/**
 * Preloaded (`node --import ./bench/child-usage.mjs <entry>`) into a process a benchmark starts,
 * so the process reports its own memory without any change to the program it runs. Plain
 * JavaScript, so a built entry (lib/cli.js) runs without tsx in the process, as a user runs it.
 * When the process exits, its peak RSS (`process.resourceUsage().maxRSS`, the kernel's figure),
 * the peak V8 heap sampled every 20 ms and the heap's limit are written as JSON to
 * BENCH_USAGE_FILE.
 */

const file = process.env.BENCH_USAGE_FILE;
if (file) {
  let peakHeap = 0;
  const sample = () => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  };
  setInterval(sample, 20).unref();
  process.on("exit", () => {
    sample();
    const usage = process.resourceUsage();
    writeFileSync(
      file,
      JSON.stringify({
        maxRssBytes: usage.maxRSS * 1024,
        peakHeapBytes: peakHeap,
        userCpuMs: Math.round(usage.userCPUTime / 1000),
        systemCpuMs: Math.round(usage.systemCPUTime / 1000),
        heapLimitBytes: getHeapStatistics().heap_size_limit,
      }),
    );
  });
}
