/** Figures of an experiment (bar chart of SDS, example overlays), written beside results.json as SVG. */
import { join } from 'node:path';
import { writeFileAtomic } from '../fsutil.js';
import type { ExperimentResult } from '../pipeline/experiment.js';
import type { Domain } from '../data/scans/cc359.js';
import { barChart, overlayGrid } from '../viz/index.js';

export async function writeFigures(r: ExperimentResult, out: string): Promise<string[]> {
  const targets = r.settings.targets as Domain[];
  const labels = Object.keys(r.table);
  const chart = barChart({
    title: `Surface Dice per target domain (tolerance ${String(r.settings.tolerance)} mm)`,
    groups: targets,
    series: labels.map((l) => ({ label: l, values: targets.map((t) => r.table[l]![t]!.mean), errors: targets.map((t) => r.table[l]![t]!.sd) })),
    yLabel: 'Surface Dice', yMin: 0, yMax: 1,
  });
  const files = [join(out, 'sds.svg')];
  await writeFileAtomic(files[0]!, chart);
  if (r.examples.length > 0) {
    const [, H, W] = r.examples[0]!.scan.shape;
    const overlay = overlayGrid({
      size: [H, W],
      rows: r.examples.map((e) => {
        const mid = Math.floor(e.scan.shape[0] / 2);
        return {
          label: e.target, image: e.scan.images.subarray(mid * H * W, (mid + 1) * H * W), gt: e.scan.masks.subarray(mid * H * W, (mid + 1) * H * W),
          columns: labels.filter((l) => e.masks[l] !== undefined).map((l) => ({ label: l, mask: e.masks[l]! })),
        };
      }),
    });
    files.push(join(out, 'examples.svg'));
    await writeFileAtomic(files[1]!, overlay);
  }
  return files;
}
