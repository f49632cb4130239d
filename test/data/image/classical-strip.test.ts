import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classicalBrainMask, otsuThresholds } from '../../../src/data/image/classical-strip.js';
import { dice } from '../../../src/metrics/index.js';

test('Otsu thresholds split separated clusters between them (2 and 3 classes)', () => {
  const two = [...Array(100).fill(0), ...Array(60).fill(10)];
  const [t] = otsuThresholds(two, 2);
  assert.ok(t! > 0 && t! <= 10, `threshold ${t}`);
  const three = [...Array(100).fill(0), ...Array(80).fill(50), ...Array(40).fill(100)];
  const [a, b] = otsuThresholds(three, 3);
  assert.ok(a! > 0 && a! <= 50 && b! > 50 && b! <= 100, `thresholds ${a}, ${b}`);
});

test('the classical baseline finds a brain sphere inside a dark skull inside bright scalp fat', () => {
  const n = 48, dims = [n, n, n] as const, c = (n - 1) / 2;
  const img = new Float32Array(n ** 3), truth = new Uint8Array(n ** 3);
  for (let z = 0; z < n; z++) for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
    const i = x + n * (y + n * z), r = Math.hypot(x - c, y - c, z - c) * 2; // 2 mm voxels: r in mm
    if (r < 30) { img[i] = 0.5 + 0.1 * Math.sin(x) * Math.cos(y); truth[i] = 1; } // parenchyma
    else if (r < 34) img[i] = 0.15; // CSF
    else if (r < 40) img[i] = 0.05; // skull
    else if (r < 46) img[i] = 1; // scalp fat
  }
  const m = classicalBrainMask(img, dims, [2, 2, 2]);
  const d = dice(truth, m);
  assert.ok(d > 0.95, `Dice ${d}`);
});
