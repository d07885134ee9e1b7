/**
 * `vembed train <config.yaml> --config_override lr=0 model_name_or_path=<checkpoint>`: the
 * vembed-factory guide's second way to evaluate a checkpoint. A learning rate of 0 trains nothing,
 * so it is read as "evaluate this model, no training": the model (a model folder, a checkpoint
 * folder with a PEFT adapter merged into its base, `checkpoint-<N>` naming accepted, or a hub id)
 * is evaluated on val_data_path with the trainer's validation (src/eval/jsonl.ts: queries against
 * the gallery of positives, Recall@K by label), printed as a table and written to
 * <output_dir>/eval_results.json. Nothing else in output_dir is touched.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, type TrainConfig } from '../config';
import { loadPairDataset } from '../data/datasets';
import { decodeImageBytes } from '../data/decode-node';
import { nodeSource } from '../platform/data-source-node';
import { validateJsonl } from '../eval/jsonl';
import { checkpointPreprocessor } from '../model/load';
import { Vit } from '../model/vit';
import { loadEvalModel } from './eval-model';
import { commandGpu } from './gpu';

export interface EvalOnlyResult {
  model: string;
  base_model: string | null;
  val_data_path: string;
  num_records: number;
  metrics: Record<string, number>;
  date: string;
}

export async function evaluateOnly(
  config: TrainConfig,
  opts: { token?: string; err?: (t: string) => void; out?: (t: string) => void } = {},
): Promise<EvalOnlyResult> {
  const err = opts.err ?? ((t: string) => process.stderr.write(t));
  const out = opts.out ?? ((t: string) => process.stdout.write(t));
  if (!config.model_name)
    throw new ConfigError(
      'learning_rate is 0 (evaluate only): model_name is not set; name the model or checkpoint to evaluate (model_name_or_path=<checkpoint folder>)',
    );
  if (!config.val_data_path) {
    throw new ConfigError(
      'learning_rate is 0 (evaluate only): val_data_path is not set; name the JSONL records to evaluate on (val_data_path=<file>), or use `vembed eval sop` for Stanford Online Products',
    );
  }
  err(`learning_rate is 0: evaluating ${config.model_name} on ${config.val_data_path}, no training\n`);
  const { ck, base } = await loadEvalModel(config.model_name, undefined, opts.token, (l) => err(`${l}\n`));
  const pp = checkpointPreprocessor(ck, base ?? config.model_name);
  const src = nodeSource(process.cwd());
  const val = await loadPairDataset(src, {
    dataPath: config.val_data_path,
    imageRoot: config.image_root,
    columnMapping: config.column_mapping,
    seed: config.seed,
  });
  for (const p of val.problems) err(`data: ${p}\n`);
  const load = async (path: string) => decodeImageBytes(await src.readBytes(path), path);
  const gpu = await commandGpu((l) => err(`${l}\n`));
  const vit = new Vit(gpu, ck.spec, ck.weights);
  let metrics: Record<string, number>;
  try {
    metrics = await validateJsonl(vit, pp, val.records, load, {
      batchSize: config.eval_batch_size ?? config.batch_size,
      pooling: config.pooling_method,
      onSkipped: (p, e) => err(`skipped ${p}: ${e}\n`),
    });
  } finally {
    vit.destroy();
    gpu.destroy();
  }
  const result: EvalOnlyResult = {
    model: config.model_name,
    base_model: base,
    val_data_path: config.val_data_path,
    num_records: val.records.length,
    metrics,
    date: new Date().toISOString(),
  };
  await mkdir(config.output_dir, { recursive: true });
  const file = join(config.output_dir, 'eval_results.json');
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(result, null, 2) + '\n');
  await rename(tmp, file);
  const keys = Object.keys(metrics).filter((k) => k.startsWith('recall@'));
  out(
    `${config.model_name}${base ? ` (base ${base})` : ''} on ${config.val_data_path}: ${val.records.length} records\n` +
      keys.map((k) => `  ${k.padEnd(12)}${`${(metrics[k] * 100).toFixed(2)}%`.padStart(10)}`).join('\n') +
      `\nresults: ${file}\n`,
  );
  return result;
}
