/**
 * The `vembed` commands and their dispatch (src/cli/main.ts runs it for bin/vembed.mjs; tests call
 * runCli in-process). `--verbose` anywhere sets $VEMBED_VERBOSE; `help <command>` is
 * `<command> --help`; no command prints the usage (exit 2).
 */
import { embedCommand } from './embed';
import { evalCommand } from './eval';
import { forwardCommand } from './forward';
import { mergeCommand } from './merge';
import { prepareCommand } from './prepare';
import { stopExitCode } from './signals';
import { trainCommand } from './train';

export const COMMANDS: Record<string, { run: (args: string[]) => Promise<void>; help: string }> = {
  embed: { run: embedCommand, help: 'embed images (files or folders) into L2-normalized vectors' },
  forward: { run: forwardCommand, help: 'run the model on pixel tensors from a safetensors file (debugging, parity)' },
  eval: {
    run: (a) => evalCommand(a),
    help: 'Recall@K on Stanford Online Products (sop); compare two reports (compare)',
  },
  train: { run: trainCommand, help: 'fine-tune (LoRA or full) from a vembed-factory YAML config' },
  prepare: {
    run: prepareCommand,
    help: 'turn a dataset folder into train.jsonl / val.jsonl (sop, or sop_i2i as vembed-factory calls it)',
  },
  merge: { run: mergeCommand, help: 'merge a LoRA adapter into its base model (a plain checkpoint)' },
};

function usage(): string {
  return (
    'usage: vembed <command> [options]\n\ncommands:\n' +
    Object.entries(COMMANDS)
      .map(([k, v]) => `  ${k.padEnd(10)} ${v.help}`)
      .join('\n') +
    "\n\n`vembed <command> --help` for its options. --verbose: also show the GPU driver's own start-up messages.\n"
  );
}

/** Runs one command line (without `vembed`); returns the exit code. Errors are printed, not thrown. */
export async function runCli(all: string[]): Promise<number> {
  const argv = all.filter((a) => a !== '--verbose');
  if (argv.length !== all.length) process.env.VEMBED_VERBOSE = '1';
  let [cmd, ...rest] = argv;
  if (cmd === 'help' && rest[0] && COMMANDS[rest[0]]) [cmd, rest] = [rest[0], ['--help']];
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(usage());
    return cmd ? 0 : 2;
  }
  const c = COMMANDS[cmd];
  if (!c) {
    process.stderr.write(`vembed: unknown command "${cmd}"\n\n${usage()}`);
    return 2;
  }
  try {
    await c.run(rest);
    return stopExitCode() ?? 0; // stopped by a signal after saving: 130 (SIGINT) or 143 (SIGTERM)
  } catch (e) {
    process.stderr.write(`vembed ${cmd}: ${(e as Error).message}\n`);
    if (process.env.VEMBED_DEBUG) console.error(e);
    return 1;
  }
}
