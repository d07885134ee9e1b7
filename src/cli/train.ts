/**
 * vembed train <config.yaml> [--config_override key=value ...] [--hf_token T]
 * The same YAML keys as vembed-factory. Shows a progress bar (epoch, step, loss, lr, images/s,
 * ETA) and a log line every logging_steps. Ctrl-C, SIGTERM or SIGHUP (to this process or to the
 * `vembed` launcher) saves a checkpoint after the current step and exits with 130 / 143 / 129;
 * another one more than a second later exits at once (./signals.ts).
 * Before any work: output_dir must be empty, or be resumed from, or overwrite_output_dir: true
 * (src/train/output-dir-node.ts); an empty dataset or one whose images are all missing is an error.
 * Config keys may also be given as flags (`--data_path X`, src/cli/config-flags.ts), and
 * learning_rate 0 means "evaluate model_name on val_data_path, no training"
 * (src/cli/evaluate-only.ts), as in the vembed-factory guide.
 */
import { decodeImageBytes } from '../data/decode-node';
import { loadPairDataset, requireRecords, validateImages } from '../data/datasets';
import { nodeSource } from '../data/source-node';
import { existingFiles } from '../data/source';
import { checkReadyToTrain, type TrainConfig } from '../config';
import { readTrainConfigFile } from '../config/node';
import { validateJsonl } from '../eval/jsonl';
import { commandGpu } from './gpu';
import { loadCheckpoint } from '../model/load';
import { checkTrainOutput } from '../train/output-dir-node';
import { nodeStore } from '../train/store-node';
import { Trainer, trainingLength, type PairData, type TrainResults } from '../train/trainer';
import { basename, dirname, resolve } from 'node:path';
import { parseOptions } from './args';
import { resolveCheckpointPath } from './checkpoint-path';
import { configFlagsToOverrides } from './config-flags';
import { evaluateOnly, type EvalOnlyResult } from './evaluate-only';
import { resolveModel } from './model-arg';
import { firstLines, formatDuration, ProgressBar, skipReason } from './progress';
import { onStop } from './signals';

export async function trainCommand(argv: string[]): Promise<void> {
  const { args, overrides: flagOverrides } = configFlagsToOverrides(argv);
  const o = parseOptions('train', args, {
    config_override: { type: 'string', multiple: true, help: 'key=value, overriding the YAML (repeatable; several after one flag too)' },
    hf_token: { type: 'string', help: 'Hugging Face access token for gated models (or $HF_TOKEN)' },
  }, '<config.yaml> [--config_override key=value ...] [--<config key> value ...]\n\n' +
    'Keys and defaults: vembed-factory\'s (see README). --<config key> value (e.g. --data_path train.jsonl)\n' +
    'overrides the YAML and --config_override, as in vembed-factory\'s run.py. lr=0 (learning_rate 0)\n' +
    'evaluates model_name (a checkpoint folder too) on val_data_path without training.');
  if (!o) return;
  const [file, ...more] = o.positionals;
  if (!file) throw new Error('missing the config file: vembed train <config.yaml>');
  // `--config_override a=1 b=2` : values after the flag are positionals too
  const overrides = [...((o.values.config_override as string[] | undefined) ?? []), ...more, ...flagOverrides];
  const bad = overrides.find((x) => !x.includes('='));
  if (bad) throw new Error(`--config_override ${bad}: expected key=value`);
  const { config, notes } = await readTrainConfigFile(file, overrides);
  for (const n of notes) process.stderr.write(`note: ${n}\n`);
  await trainFromConfig(config, { token: o.values.hf_token as string | undefined });
}

/**
 * Trains as `vembed train` does from a checked config (its progress on stderr; the library's
 * `train`, src/index-node.ts): returns train_results.json's content, or with learning_rate 0
 * the evaluation's result. Paths in the config are relative to the current folder.
 */
export async function trainFromConfig(config: TrainConfig, opts: { token?: string } = {}): Promise<TrainResults | EvalOnlyResult> {
  if (config.learning_rate === 0) return evaluateOnly(config, { token: opts.token });
  checkReadyToTrain(config);
  const output = await checkTrainOutput(config);
  for (const n of output.notes) process.stderr.write(`note: ${n}\n`);

  const src = nodeSource(process.cwd());
  const dataOpts = { imageRoot: config.image_root, columnMapping: config.column_mapping, seed: config.seed, allowOutsideRoot: config.allow_absolute_paths };
  const ds = await loadPairDataset(src, { dataPath: config.data_path!, ...dataOpts });
  for (const p of ds.problems) process.stderr.write(`data: ${p}\n`);
  requireRecords(ds, config.data_path!);
  process.stderr.write(`data: ${ds.records.length} pairs in ${ds.numClasses} classes (${ds.format}) from ${config.data_path}\n`);
  const load = async (path: string) => {
    try {
      return await decodeImageBytes(await src.readBytes(path), path);
    } catch (e) {
      throw Object.assign(new Error((e as Error).message), { path });
    }
  };
  let records = ds.records;
  // Missing files are found before training starts (cheap: one listing per folder).
  const paths = [...new Set(records.flatMap((r) => [r.query, r.positive]))];
  const found = await existingFiles(src, paths);
  const missing = paths.filter((p) => !found.has(p));
  if (missing.length === paths.length) {
    throw new Error(
      `none of the ${paths.length} images named by ${config.data_path} exist (first: ${missing[0]}, relative to ` +
        `${config.image_root ? `image_root ${config.image_root}` : `the current folder ${process.cwd()}`}); set image_root to the folder the paths start from`,
    );
  }
  if (missing.length) {
    for (const m of missing.slice(0, 20)) process.stderr.write(`missing: ${m}\n`);
    const miss = new Set(missing);
    records = records.filter((r) => !miss.has(r.query) && !miss.has(r.positive));
    process.stderr.write(`data: ${missing.length} missing images; ${ds.records.length - records.length} pairs dropped\n`);
  }
  let unreadable: { path: string; error: string }[] = [];
  if (config.validate_data) {
    let vbar: ProgressBar | null = null;
    const problems = await validateImages(src, records, decodeImageBytes, {
      onProgress: (d, t) => (vbar ??= new ProgressBar('validate_data', t)).update(d),
    });
    (vbar as ProgressBar | null)?.done();
    process.stderr.write(firstLines(problems.map((p) => `unreadable: ${skipReason({ path: p.path, error: p.reason })}`), `${config.output_dir}/train_results.json (skipped_images)`));
    unreadable = problems.map((p) => ({ path: p.path, error: p.reason }));
    const badPaths = new Set(problems.map((p) => p.path));
    records = records.filter((r) => !badPaths.has(r.query) && !badPaths.has(r.positive));
    process.stderr.write(`validate_data: ${problems.length} unreadable images; ${ds.records.length - records.length} pairs dropped\n`);
  }
  const train: PairData = { records, load };
  const { epochs } = trainingLength(config, records.length);
  let validate: ConstructorParameters<typeof Trainer>[0]['validate'] = null;
  if (config.val_data_path) {
    const val = await loadPairDataset(src, { dataPath: config.val_data_path, ...dataOpts });
    requireRecords(val, config.val_data_path);
    process.stderr.write(`validation: ${val.records.length} pairs from ${config.val_data_path} (queries vs the gallery of positives, by label)\n`);
    validate = (vit, pp) => validateJsonl(vit, pp, val.records, load, { batchSize: config.eval_batch_size ?? config.batch_size });
  }

  const ck = await loadCheckpoint(await resolveModel(config.model_name!, opts.token));
  const gpu = await commandGpu();
  const store = nodeStore(config.output_dir);
  let resume = null;
  if (config.resume_from_checkpoint) {
    const at = config.resume_from_checkpoint === 'latest' ? null : resolve(await resolveCheckpointPath(config.resume_from_checkpoint, (l) => process.stderr.write(`${l}\n`)));
    resume = at === null ? { store, folder: 'latest' } : { store: nodeStore(dirname(at)), folder: basename(at) };
  }
  const ctl = new AbortController();
  const offStop = onStop((why) => {
    process.stderr.write(`\n${why}: stopping after this step and saving a checkpoint (Ctrl-C again to quit at once)\n`);
    ctl.abort();
  });
  let bar: ProgressBar | null = null;
  let skippedSeen = 0;
  const trainer = new Trainer({
    gpu, checkpoint: ck, config, train, validate, store, resume, signal: ctl.signal, unreadable,
    onEvent: (e) => {
      if (e.kind === 'step') {
        bar ??= new ProgressBar('train', e.totalSteps, 'step');
        bar.update(e.step, `epoch ${e.epoch + 1}/${epochs} loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)} ${e.imagesPerSec.toFixed(2)} img/s`);
      } else if (e.kind === 'log') {
        process.stderr.write(`\nstep ${e.step}/${e.totalSteps} epoch ${e.epoch + 1} loss ${e.loss.toFixed(5)} lr ${e.lr.toExponential(3)} grad_norm ${e.gradNorm.toFixed(4)} ${e.imagesPerSec.toFixed(2)} img/s ETA ${formatDuration(e.etaSec)}\n`);
      } else if (e.kind === 'checkpoint') {
        process.stderr.write(`\nsaved ${config.output_dir}/${e.name}\n`);
      } else if (e.kind === 'epoch') {
        const v = e.validation ? ' ' + Object.entries(e.validation).map(([k, x]) => `${k} ${Number.isInteger(x) ? x : x.toFixed(4)}`).join(' ') : '';
        process.stderr.write(`\nepoch ${e.epoch}: mean loss ${e.meanLoss.toFixed(5)}${v}\n`);
      } else if (e.kind === 'skipped') {
        // The first 20 as they come; all of them go to train_results.json (skipped_images).
        if (++skippedSeen <= 20) process.stderr.write(`\nskipped ${skipReason(e)}\n`);
        else if (skippedSeen === 21) process.stderr.write(`\nmore images skipped: all are listed in ${config.output_dir}/train_results.json\n`);
      } else if (e.kind === 'info') {
        process.stderr.write(`${e.message}\n`);
      }
    },
  });
  try {
    await output.commit();
    const r = await trainer.run();
    (bar as ProgressBar | null)?.done();
    process.stderr.write(
      `${r.stopped_early ? 'stopped' : 'done'}: ${r.steps}/${r.total_steps} steps, final loss ${r.final.loss?.toFixed(5) ?? '-'}, ` +
        `${formatDuration(r.final.seconds)}; ${r.final.checkpoint ? `last checkpoint ${config.output_dir}/${r.final.checkpoint}` : 'no checkpoint saved'}; ` +
        `results in ${config.output_dir}/train_results.json` +
        (r.stopped_early ? '; continue with --config_override resume_from_checkpoint=latest' : '') + '\n',
    );
    return r;
  } finally {
    offStop();
    trainer.destroy();
    gpu.destroy();
  }
}
