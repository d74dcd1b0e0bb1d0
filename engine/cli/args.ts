// Command-line parsing on Node's own `util.parseArgs` (a well-kept parser that costs the CLI no start-up time
// and no dependency): --name value / --name=value / boolean --flag, positionals, everything after `--` as
// positionals, and an error naming the offending option (unknown options are refused rather than ignored).
// Numbers and required options are checked here; `--help` (or -h) on any command shows its usage.

import { parseArgs as parseNodeArgs } from 'node:util';
import { CloudletError } from '../errors';

export interface OptionSpec {
  /** `multiple`: the option may repeat; its value is then every occurrence, in order (a string[]). */
  [name: string]: { type: 'string' | 'number' | 'boolean'; required?: boolean; multiple?: boolean; help: string };
}

export interface Parsed {
  positionals: string[];
  options: Record<string, string | number | boolean | string[] | undefined>;
}

/** Thrown for --help: main() prints the text on stdout and exits 0. */
export class HelpRequested extends Error {
  constructor(readonly text: string) {
    super('help');
  }
}

/** What asks any command for its usage. */
export const HELP_FLAGS = ['--help', '-h'];

export function parseArgs(argv: string[], spec: OptionSpec, usage: string): Parsed {
  if (argv.some((a, i) => HELP_FLAGS.includes(a) && !argv.slice(0, i).includes('--'))) throw new HelpRequested(`${usage}\n\noptions:\n${helpText(spec)}`);
  const nodeSpec: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const [name, s] of Object.entries(spec)) nodeSpec[name] = { type: s.type === 'boolean' ? 'boolean' : 'string', ...(s.multiple ? { multiple: true } : {}) };
  let parsed: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };
  try {
    parsed = parseNodeArgs({ args: argv, options: nodeSpec, allowPositionals: true, strict: true });
  } catch (e) {
    throw usageError(e, usage);
  }
  const options: Parsed['options'] = {};
  for (const [name, s] of Object.entries(spec)) {
    const raw = parsed.values[name];
    if (s.multiple && s.type === 'string') {
      if (Array.isArray(raw)) options[name] = raw.map(String);
      continue;
    }
    const v = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    if (v === undefined) {
      if (s.required) throw new CloudletError('INVALID_ARGUMENT', `missing required option --${name}\n${usage}`);
      continue;
    }
    if (s.type === 'number') {
      const n = Number(v);
      if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n)) throw new CloudletError('INVALID_ARGUMENT', `--${name} must be a number (got ${JSON.stringify(v)})`);
      options[name] = n;
    } else options[name] = v;
  }
  return { positionals: parsed.positionals, options };
}

/** node:util's parse errors, in the CLI's words (the option named as the user wrote it). */
function usageError(e: unknown, usage: string): CloudletError {
  const err = e as { code?: string; message?: string };
  const named = /'(-{1,2}[^' ]+)/.exec(err.message ?? '')?.[1] ?? '';
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return new CloudletError('INVALID_ARGUMENT', `unknown option ${named}\n${usage}`);
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    if (/does not take an argument/.test(err.message ?? '')) return new CloudletError('INVALID_ARGUMENT', `${named} takes no value`);
    return new CloudletError('INVALID_ARGUMENT', `${named} needs a value`);
  }
  return new CloudletError('INVALID_ARGUMENT', `${err.message ?? String(e)}\n${usage}`);
}

export function helpText(spec: OptionSpec): string {
  return Object.entries(spec)
    .map(([n, s]) => `  --${n}${s.type === 'boolean' ? '' : ` <${s.type === 'number' ? 'n' : 'value'}>`}`.padEnd(28) + s.help + (s.required ? ' (required)' : ''))
    .join('\n');
}

/** How a client command reaches its engine: options every client command takes. */
export const CONNECT: OptionSpec = {
  endpoint: { type: 'string', help: 'engine endpoint: unix:PATH, http(s)://HOST:PORT (default: $CLOUDLET_ENDPOINT, else the local engine, started if needed)' },
  'token-file': { type: 'string', help: 'file holding the API token (default: $CLOUDLET_TOKEN, else <state>/token)' },
  'state-dir': { type: 'string', help: 'local engine state directory (default: $CLOUDLET_STATE_DIR or ~/.local/share/cloudlet)' },
  ca: { type: 'string', help: 'PEM CA certificate for an https endpoint' },
  json: { type: 'boolean', help: 'print JSON' },
  quiet: { type: 'boolean', help: 'no progress output' },
};

/** Connection options that take a value, so the CLI can tell them from the command word wherever they stand. */
const GLOBAL_VALUE_OPTIONS = Object.entries(CONNECT)
  .filter(([, s]) => s.type !== 'boolean')
  .map(([n]) => n);

/**
 * The next command word may follow options (`cloudlet --json info`, `cloudlet --endpoint URL base list`,
 * `cloudlet base --json list`): it is the first word that is not an option or a connection option's value.
 * The options before it are kept for the command, moved after the rest (but before a `--`). With no word,
 * a --help there is returned as the word.
 */
export function splitCommand(argv: string[]): { cmd: string | undefined; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') break;
    if (!a.startsWith('-')) {
      const before = argv.slice(0, i);
      const after = argv.slice(i + 1);
      const dd = after.indexOf('--');
      const rest = dd < 0 ? [...after, ...before] : [...after.slice(0, dd), ...before, ...after.slice(dd)];
      return { cmd: a, rest };
    }
    if (GLOBAL_VALUE_OPTIONS.includes(a.slice(2)) && !a.includes('=')) i++;
  }
  return { cmd: argv.find((a) => HELP_FLAGS.includes(a)), rest: argv.filter((a) => !HELP_FLAGS.includes(a)) };
}
