import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Write `json` to `root/rel` (folders made). */
export function writeJson(root: string, rel: string, json: unknown): string {
  const path = join(root, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, typeof json === 'string' ? json : JSON.stringify(json));
  return path;
}

/** The sidecar fields of a scanner. */
export function scannerFields(manufacturer: string, model: string, tesla: number): Record<string, unknown> {
  return { Manufacturer: manufacturer, ManufacturersModelName: model, MagneticFieldStrength: tesla };
}
