/** dropout: the GPU mask equals the CPU hash mask bit for bit; keep rate ~ 1 - p; accumulate mode. */
import { dropoutForward } from '../../src/ops/dropout';
import * as ref from '../../src/ref/dropout';
import { Rng, randomArray } from '../../src/util/random';
import { expectClose, f32 } from '../helpers/check';
import type { GpuCase, RefCase } from '../helpers/cases';

export const gpuCases: GpuCase[] = [
  {
    name: 'dropout mask matches the reference; accumulate adds',
    run: async (gpu) => {
      const n = 10007,
        p = 0.3;
      const x = randomArray(new Rng(3), n);
      const base = randomArray(new Rng(4), n);
      const gx = gpu.upload(f32(x)),
        gout = gpu.upload(f32(base));
      dropoutForward(gpu, gout, gx, n, p, 1234, 5, true);
      const r = base.slice();
      ref.dropoutForward(r, x, n, p, 1234, 5, true);
      expectClose(await gpu.read(gout), r, { atol: 1e-6, rtol: 1e-6 }, 'dropout accum');
      dropoutForward(gpu, gout, gx, n, 0, 9, 9);
      expectClose(await gpu.read(gout), x, { atol: 0, rtol: 0 }, 'p = 0 is the identity');
      gx.destroy();
      gout.destroy();
    },
  },
];

export const refCases: RefCase[] = [
  {
    name: 'dropout keeps about 1 - p, and different seeds give different masks',
    run: () => {
      const n = 20000,
        t = ref.dropoutThreshold(0.25);
      let kept = 0,
        same = 0;
      for (let i = 0; i < n; i++) {
        const a = ref.dropoutKeep(7, 1, i, t);
        kept += a ? 1 : 0;
        same += a === ref.dropoutKeep(7, 2, i, t) ? 1 : 0;
      }
      if (Math.abs(kept / n - 0.75) > 0.02) throw new Error(`keep rate ${kept / n}, expected ~0.75`);
      if (same / n > 0.7) throw new Error(`masks of seeds (7,1) and (7,2) agree on ${same / n} of entries`);
    },
  },
];
