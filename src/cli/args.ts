/** Option parsing shared by the subcommands (node:util parseArgs with clear errors). */
import { parseArgs } from 'node:util';
import { VembedError } from '../util/errors';

export class UsageError extends VembedError {
  override name = 'UsageError';
}

export type OptionSpec = Record<
  string,
  {
    type: 'string' | 'boolean';
    multiple?: boolean;
    short?: string;
    help: string;
    required?: boolean;
    default?: string | boolean;
  }
>;

export function parseOptions<T extends OptionSpec>(
  command: string,
  args: string[],
  spec: T,
  synopsis: string,
): { values: Record<keyof T, string | boolean | string[] | undefined>; positionals: string[] } | null {
  const help = () =>
    `usage: vembed ${command} ${synopsis}\n\noptions:\n` +
    Object.entries(spec)
      .map(
        ([k, v]) =>
          `  --${k}${v.type === 'string' ? ' <value>' : ''}`.padEnd(30) + v.help + (v.required ? ' (required)' : ''),
      )
      .join('\n') +
    '\n';
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(help());
    return null;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: Object.fromEntries(
        Object.entries(spec).map(([k, v]) => [
          k,
          Object.fromEntries(
            Object.entries({ type: v.type, multiple: v.multiple, short: v.short, default: v.default }).filter(
              ([, x]) => x !== undefined,
            ),
          ),
        ]),
      ) as never,
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${help()}`);
  }
  for (const [k, v] of Object.entries(spec)) {
    if (v.required && (parsed.values as Record<string, unknown>)[k] === undefined) {
      throw new UsageError(`missing --${k} (${v.help})\n\n${help()}`);
    }
  }
  return parsed;
}
