// A small, strict command-line parser: --name value / --name=value / boolean --flag, positionals, and an
// error naming the offending option (unknown options are refused rather than ignored).

import { CloudletError } from '../errors';

export interface OptionSpec {
  [name: string]: { type: 'string' | 'number' | 'boolean'; required?: boolean; help: string };
}

export interface Parsed {
  positionals: string[];
  options: Record<string, string | number | boolean | undefined>;
}

export function parseArgs(argv: string[], spec: OptionSpec, usage: string): Parsed {
  const options: Parsed['options'] = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const s = spec[name];
    if (!s) throw new CloudletError('INVALID_ARGUMENT', `unknown option --${name}\n${usage}`);
    if (s.type === 'boolean') {
      if (eq >= 0) throw new CloudletError('INVALID_ARGUMENT', `--${name} takes no value`);
      options[name] = true;
      continue;
    }
    let v: string | undefined = eq >= 0 ? a.slice(eq + 1) : argv[++i];
    if (v === undefined) throw new CloudletError('INVALID_ARGUMENT', `--${name} needs a value`);
    if (s.type === 'number') {
      const n = Number(v);
      if (!Number.isFinite(n) || v.trim() === '') throw new CloudletError('INVALID_ARGUMENT', `--${name} must be a number (got ${JSON.stringify(v)})`);
      options[name] = n;
    } else {
      options[name] = v;
    }
    v = undefined;
  }
  for (const [name, s] of Object.entries(spec)) {
    if (s.required && options[name] === undefined) throw new CloudletError('INVALID_ARGUMENT', `missing required option --${name}\n${usage}`);
  }
  return { positionals, options };
}

export function helpText(spec: OptionSpec): string {
  return Object.entries(spec)
    .map(([n, s]) => `  --${n}${s.type === 'boolean' ? '' : ` <${s.type === 'number' ? 'n' : 'value'}>`}`.padEnd(28) + s.help + (s.required ? ' (required)' : ''))
    .join('\n');
}
