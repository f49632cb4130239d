/**
 * Child process of finalizer.test.ts (run with --expose-gc): leak one tensor, then collect garbage and
 * yield to the event loop up to 50 times, and print how many tensors are still live beyond the start.
 * Loaded without --expose-gc (as the test runner might), it does nothing.
 */
import { liveTensors, randn } from '../../src/engine/index.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc !== undefined) {
  const start = liveTensors();
  (() => { randn([4, 4]); })(); // dropped without dispose(): a leak
  for (let i = 0; i < 50 && liveTensors() > start; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  process.stdout.write(`${JSON.stringify({ leaked: liveTensors() - start })}\n`);
}
