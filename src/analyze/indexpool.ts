/**
 * Worker threads that index blocks for the prefilter (blockindex.ts), so that a large input uses
 * every core: the main thread reads, cuts lines and feeds the detector in order; the workers do
 * the byte-heavy trigger search. The index is a pure function of the block, so the output is the
 * one the main thread alone would give (tested: --jobs 1 and --jobs N are byte-identical).
 *
 * The main thread keeps each block until its index is back (a worker gets a copy): when a worker
 * fails, its blocks are indexed on the main thread instead and nothing is lost.
 */
import { Worker } from 'node:worker_threads';
import { indexBlock, type BlockIndex } from './blockindex.js';

/** Where blocks get indexed: at once on this thread, or later on a worker. */
export interface BlockIndexer {
  index(block: Buffer): BlockIndex | Promise<BlockIndex>;
}

export const INLINE_INDEXER: BlockIndexer = { index: indexBlock };

interface Pending {
  block: Buffer;
  resolve: (i: BlockIndex) => void;
}

interface Reply {
  id: number;
  /** The copy the block was sent in, handed back to be reused (no allocation per block). */
  bytes: ArrayBuffer;
  newlines: number;
  hits: Int32Array;
  hitLines: Int32Array;
}

/** Size of the buffers blocks are sent in: a read chunk (1 MiB) and a carried partial line. */
const SPARE_BYTES = (1 << 20) + (80 << 10);
const MAX_SPARE = 64;
/**
 * A worker's heap holds one block's string at a time; a low ceiling makes it collect the
 * previous ones early instead of growing (RSS stays flat). Far above what one block needs.
 */
const WORKER_HEAP_MB = 16;

export class IndexPool implements BlockIndexer {
  private readonly workers: Worker[] = [];
  private readonly load: number[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private readonly spare: ArrayBuffer[] = [];
  private online = 0;
  private broken = false;
  private closing = false;
  /** Blocks indexed on workers, and on this thread because the pool had failed. */
  readonly counts = { worker: 0, fallback: 0 };

  constructor(threads: number) {
    for (let n = 0; n < threads; n++) {
      const w = new Worker(new URL('./indexworker.js', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: 4 } });
      w.on('online', () => this.online++);
      w.on('message', (r: Reply) => this.reply(n, r));
      w.on('error', () => this.fail());
      w.on('exit', () => {
        if (!this.closing) this.fail();
      });
      this.workers.push(w);
      this.load.push(0);
    }
  }

  /** A worker is running (or the pool failed, and blocks are indexed here at once). */
  ready(): boolean {
    return this.online > 0 || this.broken;
  }

  index(block: Buffer): BlockIndex | Promise<BlockIndex> {
    if (this.broken) {
      this.counts.fallback++;
      return indexBlock(block);
    }
    let w = 0;
    for (let n = 1; n < this.load.length; n++) if (this.load[n]! < this.load[w]!) w = n;
    const id = this.nextId++;
    // The worker gets its own copy (the block may share memory with other chunks of a stream),
    // in a buffer it hands back: a fixed set of buffers rather than garbage in two heaps.
    let copy = this.spare.pop();
    if (copy === undefined || copy.byteLength < block.length) copy = new ArrayBuffer(Math.max(block.length, SPARE_BYTES));
    new Uint8Array(copy, 0, block.length).set(block);
    this.load[w]!++;
    return new Promise<BlockIndex>((resolve) => {
      this.pending.set(id, { block, resolve });
      this.workers[w]!.postMessage({ id, bytes: copy, length: block.length }, [copy]);
    });
  }

  private reply(worker: number, r: Reply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    this.load[worker]!--;
    this.counts.worker++;
    if (this.spare.length < MAX_SPARE) this.spare.push(r.bytes);
    p.resolve({ newlines: r.newlines, hits: r.hits, hitLines: r.hitLines });
  }

  /** A worker failed: everything still out is indexed here, and so is every later block. */
  private fail(): void {
    if (this.broken || this.closing) return;
    this.broken = true;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      this.counts.fallback++;
      p.resolve(indexBlock(p.block));
    }
    for (const w of this.workers) void w.terminate();
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Inputs smaller than this (in all, per run) are indexed on the main thread: a worker costs ~30-50 ms to start. */
export const POOL_MIN_BYTES = 32 << 20;

/**
 * Indexes on this thread until the run has read POOL_MIN_BYTES (or is known to be that large:
 * expect()), then starts `threads` workers and hands them the blocks once one is running (until
 * then, still here). Shared by every input
 * of a run; close() when the run is done.
 */
export class LazyPool implements BlockIndexer {
  private seen = 0;
  private pool: IndexPool | null = null;

  constructor(
    private readonly threads: number,
    private readonly minBytes = POOL_MIN_BYTES,
  ) {}

  /** The run will read at least `bytes` (its regular files): start the workers now if that is enough. */
  expect(bytes: number): void {
    if (this.pool === null && this.threads > 1 && bytes >= this.minBytes) this.pool = new IndexPool(this.threads);
  }

  index(block: Buffer): BlockIndex | Promise<BlockIndex> {
    this.seen += block.length;
    this.expect(this.seen);
    // minBytes 0 (tests): every block goes to the workers, even before one is running.
    return this.pool !== null && (this.minBytes === 0 || this.pool.ready()) ? this.pool.index(block) : indexBlock(block);
  }

  /** Blocks indexed on workers (0: the run was too small, or --jobs 1). */
  get workerBlocks(): number {
    return this.pool?.counts.worker ?? 0;
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}
