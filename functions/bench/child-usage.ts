import { writeFileSync } from "node:fs";

/**
 * Preloaded (`node --import tsx --import ./bench/child-usage.ts <entry>`) into a process a
 * benchmark starts, so the process reports its own memory without any change to the program it
 * runs: when it exits, its peak RSS (`process.resourceUsage().maxRSS`, the kernel's figure) and
 * the peak V8 heap sampled every 20 ms are written as JSON to BENCH_USAGE_FILE.
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
      }),
    );
  });
}
