// Throughput and allocation of one operation, for the summary tables the codec benches print
// before `deno bench` runs them: ns per operation, MB/s (MB = 10^6 bytes) and the heap growth
// per operation (JS heap plus ArrayBuffer memory): the median over 200 batches, each sized to
// allocate about 128 KiB, far below V8's young generation, so that most batches run without a
// GC and grow the heap by exactly what they allocated.

/** One measured operation. */
export interface Measurement {
  /** What was measured. */
  name: string;
  /** Payload bytes one operation decodes or encodes (0: no MB/s column). */
  bytes: number;
  /** Nanoseconds per operation. */
  nsPerOp: number;
  /** Bytes allocated per operation (heap growth); `NaN` when every batch saw a GC. */
  allocatedPerOp: number;
  /** Operations the allocation was measured over. */
  allocationOps: number;
}

/** Milliseconds of warm-up and of timing for each operation. */
const WARMUP_MS = 100;
const TIMING_MS = 300;
/** Allocation is measured over this many batches; the median batch counts. */
const BATCHES = 200;
/** Bytes one batch should allocate: small enough that most batches see no GC. */
const BATCH_BYTES = 131072;
/** At most this many operations per batch. */
const MAX_BATCH_OPS = 500;

function heapBytes(): number {
  const usage = Deno.memoryUsage();
  return usage.heapUsed + usage.external;
}

/** Heap growth per operation over one batch of about `count` operations, and the count. */
async function growth(run: Run, count: number): Promise<[perOp: number, done: number]> {
  const before = heapBytes();
  const done = await run(count);
  return [(heapBytes() - before) / done, done];
}

/**
 * Performs about `count` operations and returns how many it did (some operations come in
 * fixed groups, such as a stream of 100 requests).
 */
export type Run = (count: number) => number | Promise<number>;

/**
 * Measures `run`.
 *
 * @param name What is measured.
 * @param bytes Payload bytes per operation.
 * @param run Performs about `count` operations, returns how many.
 * @returns The measurement.
 */
export async function measure(name: string, bytes: number, run: Run): Promise<Measurement> {
  // Warm up (JIT), growing the batch until one takes about a millisecond.
  let batch = 1;
  for (const end = performance.now() + WARMUP_MS; performance.now() < end;) {
    const start = performance.now();
    await run(batch);
    if (performance.now() - start < 1) batch *= 2;
  }
  let ops = 0;
  const start = performance.now();
  while (performance.now() - start < TIMING_MS) ops += await run(batch);
  const nsPerOp = (performance.now() - start) * 1e6 / ops;
  // Estimate the allocation with single operations, then size the batches from it.
  const probes: number[] = [];
  for (let i = 0; i < 50; i++) probes.push((await growth(run, 1))[0]);
  probes.sort((a, b) => a - b);
  const estimate = Math.max(64, probes[Math.floor(probes.length / 2)]!);
  const perBatch = Math.max(1, Math.min(MAX_BATCH_OPS, Math.floor(BATCH_BYTES / estimate)));
  const samples: number[] = [];
  let allocationOps = 0;
  for (let i = 0; i < BATCHES; i++) {
    const [perOp, done] = await growth(run, perBatch);
    samples.push(perOp);
    allocationOps += done;
  }
  samples.sort((a, b) => a - b);
  const allocated = samples[Math.floor(samples.length / 2)]!;
  return { name, bytes, nsPerOp, allocatedPerOp: allocated > 0 ? allocated : NaN, allocationOps };
}

/**
 * A markdown table of measurements.
 *
 * @param title The table's heading line.
 * @param rows The measurements.
 * @returns The table text.
 */
export function formatMeasurements(title: string, rows: Measurement[]): string {
  const lines = [
    title,
    "",
    "| Operation | bytes | ns/op | MB/s | allocated/op |",
    "| --- | ---: | ---: | ---: | ---: |",
  ];
  for (const row of rows) {
    const mbps = row.bytes > 0 ? (row.bytes / row.nsPerOp * 1e3).toFixed(0) : "";
    const allocated = Number.isNaN(row.allocatedPerOp)
      ? "n/a"
      : `${formatBytes(row.allocatedPerOp)} (over ${row.allocationOps} ops)`;
    lines.push(
      `| ${row.name} | ${row.bytes} | ${row.nsPerOp.toFixed(0)} | ${mbps} | ${allocated} |`,
    );
  }
  return lines.join("\n");
}

function formatBytes(bytes: number): string {
  return bytes >= 10 * 1024 ? `${(bytes / 1024).toFixed(0)} KiB` : `${bytes.toFixed(0)} B`;
}
