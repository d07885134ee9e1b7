/**
 * tools/gpu-bench program: the entry the bundle is built from (tools/gpu-bench/vite.config.ts ->
 * .gpubench/bench.mjs) and that run.sh runs there; the sections and options are in main.ts.
 *   node .gpubench/bench.mjs <plan|adapter|gemm|forward|train|report> [--tiny] ...
 *   npx vite-node tools/gpu-bench/bench.ts -- <section> ...   (here, without the bundle)
 */
import { main } from './main';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`gpu-bench: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
