/**
 * `vembed` command line (Node, Dawn). Subcommands:
 *   embed    --model <dir|hub id> --images <files/folders> --output <embeddings.safetensors>
 *   eval     sop --model_path <dir|adapter|hub id> --sop_root <dir> | compare <before.json> <after.json>
 *   train    <config.yaml> [--config_override key=value ...] [--<config key> value ...]
 *   prepare  sop --root <dir> [--seed S] [--val_from_train F] | sop_i2i [--root <dir>]
 *   merge    --model <dir|hub id> --adapter <dir> --output <dir>
 *   forward  --model <dir> --input <in.safetensors> --output <out.safetensors> [--adapter <dir>]
 * `vembed <command> --help` (or `vembed help <command>`) prints a command's options. `--verbose`
 * anywhere shows what is quiet by default (Dawn's own adapter-probing messages: src/gpu/device-node.ts).
 * SIGINT / SIGTERM / SIGHUP: `train` saves a checkpoint and exits with 128 + the signal number;
 * the other commands exit at once (their outputs are written atomically; see ./signals.ts).
 */
import { runCli } from './commands';
import { installStopSignals } from './signals';

installStopSignals();
void runCli(process.argv.slice(2)).then((code) => process.exit(code));
