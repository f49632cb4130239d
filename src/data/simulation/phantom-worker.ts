/**
 * Worker thread for generatePhantomDataset: renders and writes the volumes it is sent, one message each.
 * Volumes are independent (each has its own seeded subject and acquisition), so the files are the same
 * bytes whichever thread writes them.
 */
import { parentPort } from 'node:worker_threads';
import { ConvLoraError } from '../../errors.js';
import { writePhantomVolume, type PhantomJob } from './phantom.js';

if (parentPort === null) throw new Error('phantom-worker.js runs as a worker thread');
const port = parentPort;
port.on('message', (job: PhantomJob) => {
  writePhantomVolume(job).then(
    (stem) => port.postMessage({ index: job.index, domain: job.domain, stem }),
    (err: unknown) => port.postMessage({
      index: job.index, domain: job.domain,
      error: { code: err instanceof ConvLoraError ? err.code : 'E_IO', message: err instanceof Error ? err.message : String(err) },
    }),
  );
});
