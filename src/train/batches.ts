/**
 * The training data as the trainer (./trainer.ts) walks it: pairs (`PairData`), the run's length
 * (`trainingLength`: steps per epoch, total steps, epochs), each epoch's data order (a seeded
 * permutation) and loading one batch (`loadBatch`: both images of each pair decoded and
 * preprocessed; a pair with an unreadable image is reported and dropped, a batch with fewer than
 * 2 readable pairs is null, since in-batch negatives need 2).
 */
import type { TrainConfig } from '../config';
import type { PairRecord } from '../data/datasets';
import type { RgbImage } from '../data/image';
import { preprocess, type Preprocessor } from '../data/preprocess';
import { Rng } from '../util/random';
import type { Batch } from './step';

export interface PairData {
  records: PairRecord[];
  /** Decodes an image of a record (throws for unreadable files). */
  load: (path: string) => Promise<RgbImage>;
}

/** Steps per epoch, total steps (max_steps when positive) and epochs begun, for N records. */
export function trainingLength(
  c: Pick<TrainConfig, 'batch_size' | 'epochs' | 'max_steps'>,
  N: number,
): { stepsPerEpoch: number; total: number; epochs: number } {
  const stepsPerEpoch = Math.ceil(N / Math.min(c.batch_size, N));
  const total = c.max_steps > 0 ? c.max_steps : c.epochs * stepsPerEpoch;
  return { stepsPerEpoch, total, epochs: Math.ceil(total / stepsPerEpoch) };
}

/** Seeded permutation of 0..n-1 (Fisher-Yates). */
export function permutation(n: number, seed: number): number[] {
  const rng = new Rng(seed);
  const p = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/**
 * The batch of the records `ids`, preprocessed to H x W (the preprocessor's fixed size), or null
 * when fewer than 2 pairs could be read. `skipped` is told about each pair dropped (the path of
 * the image that failed, when the decoder names it, and the error).
 */
export async function loadBatch(
  data: PairData,
  ids: number[],
  pp: Preprocessor,
  H: number,
  W: number,
  skipped: (path: string, error: string) => void,
): Promise<Batch | null> {
  const { records, load } = data;
  const img = 3 * H * W;
  const pairs = await Promise.all(
    ids.map(async (i) => {
      const r = records[i];
      try {
        const [q, p] = await Promise.all([load(r.query), load(r.positive)]);
        return { q: preprocess(q, pp), p: preprocess(p, pp), label: r.label };
      } catch (e) {
        const path = (e as { path?: string }).path ?? `${r.query} / ${r.positive}`;
        skipped(path, (e as Error).message);
        return null;
      }
    }),
  );
  const ok = pairs.filter((x): x is NonNullable<typeof x> => x !== null);
  if (ok.length < 2) return null;
  const B = ok.length;
  const query = new Float32Array(B * img),
    positive = new Float32Array(B * img);
  ok.forEach((x, k) => {
    query.set(x.q, k * img);
    positive.set(x.p, k * img);
  });
  const labels = ok.every((x) => x.label !== null) ? Uint32Array.from(ok, (x) => x.label!) : null;
  return { query, positive, labels, B, H, W };
}
