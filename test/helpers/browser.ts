/// <reference lib="dom" />
// Drive the browser app (`convlora app`) in Debian's headless chromium through puppeteer-core: upload a
// scan, press Segment, wait, read the page's state (window.convlora). Used by test/app and bench/onnx.
import { existsSync } from 'node:fs';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const haveChromium = (): boolean => existsSync(CHROMIUM);

type PageState = { state: string; error: { code: string; message: string } | null; threads: number; result: { mask: Uint8Array; brainVoxels: number; seconds: number } | null };
type W = { convlora: PageState };

export interface AppPage {
  /** Upload `file`, press Segment, wait; the page's state, its mask and the page's own timing (decode to mask file). */
  segment(file: string, timeoutMs?: number): Promise<{ state: string; error: PageState['error']; mask: Uint8Array; seconds: number; wallSeconds: number }>;
  page: import('puppeteer-core').Page;
  errors: string[];
  requests: string[];
  close(): Promise<void>;
}

export async function openAppPage(url: string): Promise<AppPage> {
  const { default: puppeteer } = await import('puppeteer-core');
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [], requests: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('request', (r) => requests.push(`${r.method()} ${r.url()}`));
    await page.setViewport({ width: 1200, height: 900 });
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForFunction(() => (window as unknown as W).convlora.state !== 'loading', { timeout: 60_000 });
    const input = (await page.$('input#file'))!;
    return {
      page, errors, requests,
      async segment(file, timeoutMs = 300_000) {
        await input.uploadFile(file);
        await page.waitForFunction(() => (window as unknown as W).convlora.state === 'ready' && !(document.getElementById('segment') as HTMLButtonElement).disabled, { timeout: 60_000 });
        const t0 = performance.now();
        await page.click('#segment');
        await page.waitForFunction(() => ['done', 'error'].includes((window as unknown as W).convlora.state), { timeout: timeoutMs, polling: 100 });
        const wallSeconds = (performance.now() - t0) / 1000;
        const r = await page.evaluate(() => {
          const c = (window as unknown as W).convlora;
          return { state: c.state, error: c.error, mask: c.result === null ? [] : Array.from(c.result.mask), seconds: c.result?.seconds ?? NaN };
        });
        return { ...r, mask: Uint8Array.from(r.mask), wallSeconds };
      },
      close: () => browser.close(),
    };
  } catch (err) {
    await browser.close();
    throw err;
  }
}
