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
import { nodeSource } from '../platform/data-source-node';
import { checkReadyToTrain, type TrainConfig } from '../config';
import { readTrainConfigFile } from '../config/file-node';
import { imageLoader } from '../run/dataset';
import { prepareTrainingData } from '../run/training-data';
import { commandGpu } from './gpu';
import { loadCheckpoint } from '../model/load';
import { checkTrainOutput } from '../train/output-dir-node';
import { nodeStore } from '../platform/checkpoint-store-node';
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
  const o = parseOptions(
    'train',
    args,
    {
      config_override: {
        type: 'string',
        multiple: true,
        help: 'key=value, overriding the YAML (repeatable; several after one flag too)',
      },
      hf_token: { type: 'string', help: 'Hugging Face access token for gated models (or $HF_TOKEN)' },
    },
    '<config.yaml> [--config_override key=value ...] [--<config key> value ...]\n\n' +
      "Keys and defaults: vembed-factory's (see README). --<config key> value (e.g. --data_path train.jsonl)\n" +
      "overrides the YAML and --config_override, as in vembed-factory's run.py. lr=0 (learning_rate 0)\n" +
      'evaluates model_name (a checkpoint folder too) on val_data_path without training.',
  );
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
export async function trainFromConfig(
  config: TrainConfig,
  opts: { token?: string } = {},
): Promise<TrainResults | EvalOnlyResult> {
  if (config.learning_rate === 0) return evaluateOnly(config, { token: opts.token });
  checkReadyToTrain(config);
  const output = await checkTrainOutput(config);
  for (const n of output.notes) process.stderr.write(`note: ${n}\n`);

  const src = nodeSource(process.cwd());
  const load = imageLoader(src, decodeImageBytes);
  let vbar: ProgressBar | null = null;
  const { records, unreadable, validate } = await prepareTrainingData(src, config, {
    load,
    decode: decodeImageBytes,
    relativeTo: config.image_root ? `image_root ${config.image_root}` : `the current folder ${process.cwd()}`,
    onEvent: (e) => {
      if (e.kind === 'problem') process.stderr.write(`data: ${e.message}\n`);
      else if (e.kind === 'loaded') {
        process.stderr.write(
          `data: ${e.dataset.records.length} pairs in ${e.dataset.numClasses} classes (${e.dataset.format}) from ${e.path}\n`,
        );
      } else if (e.kind === 'missing') {
        for (const m of e.paths.slice(0, 20)) process.stderr.write(`missing: ${m}\n`);
        process.stderr.write(`data: ${e.paths.length} missing images; ${e.dropped} pairs dropped\n`);
      } else if (e.kind === 'validate-progress') (vbar ??= new ProgressBar('validate_data', e.total)).update(e.done);
      else if (e.kind === 'unreadable') {
        vbar?.done();
        process.stderr.write(
          firstLines(
            e.images.map((p) => `unreadable: ${skipReason(p)}`),
            `${config.output_dir}/train_results.json (skipped_images)`,
          ),
        );
        process.stderr.write(`validate_data: ${e.images.length} unreadable images; ${e.dropped} pairs dropped\n`);
      } else if (e.kind === 'validation') {
        process.stderr.write(
          `validation: ${e.pairs} pairs from ${e.path} (queries vs the gallery of positives, by label)\n`,
        );
      }
    },
  });
  const train: PairData = { records, load };
  const { epochs } = trainingLength(config, records.length);

  const ck = await loadCheckpoint(await resolveModel(config.model_name!, opts.token));
  const gpu = await commandGpu();
  const store = nodeStore(config.output_dir);
  let resume = null;
  if (config.resume_from_checkpoint) {
    const at =
      config.resume_from_checkpoint === 'latest'
        ? null
        : resolve(await resolveCheckpointPath(config.resume_from_checkpoint, (l) => process.stderr.write(`${l}\n`)));
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
    gpu,
    checkpoint: ck,
    config,
    train,
    validate,
    store,
    resume,
    signal: ctl.signal,
    unreadable,
    onEvent: (e) => {
      if (e.kind === 'step') {
        bar ??= new ProgressBar('train', e.totalSteps, 'step');
        bar.update(
          e.step,
          `epoch ${e.epoch + 1}/${epochs} loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)} ${e.imagesPerSec.toFixed(2)} img/s`,
        );
      } else if (e.kind === 'log') {
        process.stderr.write(
          `\nstep ${e.step}/${e.totalSteps} epoch ${e.epoch + 1} loss ${e.loss.toFixed(5)} lr ${e.lr.toExponential(3)} grad_norm ${e.gradNorm.toFixed(4)} ${e.imagesPerSec.toFixed(2)} img/s ETA ${formatDuration(e.etaSec)}\n`,
        );
      } else if (e.kind === 'checkpoint') {
        process.stderr.write(`\nsaved ${config.output_dir}/${e.name}\n`);
      } else if (e.kind === 'epoch') {
        const v = e.validation
          ? ' ' +
            Object.entries(e.validation)
              .map(([k, x]) => `${k} ${Number.isInteger(x) ? x : x.toFixed(4)}`)
              .join(' ')
          : '';
        process.stderr.write(`\nepoch ${e.epoch}: mean loss ${e.meanLoss.toFixed(5)}${v}\n`);
      } else if (e.kind === 'skipped') {
        // The first 20 as they come; all of them go to train_results.json (skipped_images).
        if (++skippedSeen <= 20) process.stderr.write(`\nskipped ${skipReason(e)}\n`);
        else if (skippedSeen === 21)
          process.stderr.write(`\nmore images skipped: all are listed in ${config.output_dir}/train_results.json\n`);
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
        (r.stopped_early ? '; continue with --config_override resume_from_checkpoint=latest' : '') +
        '\n',
    );
    return r;
  } finally {
    offStop();
    trainer.destroy();
    gpu.destroy();
  }
}
