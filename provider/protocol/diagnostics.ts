// Diagnostics as Terraform shows them: a severity, a one-line summary, a detail paragraph, and optionally
// the attribute the problem is about (Terraform then points at that line of the configuration).

import type { Outgoing } from './protobuf';
import type { AttributePath, Diagnostic as DiagnosticMessage } from './tfplugin6';

export type PathStep = string | number | { key: string };

export interface Diagnostic {
  severity: 'ERROR' | 'WARNING';
  summary: string;
  detail: string;
  /** Attribute names (strings), list indexes (numbers) and map keys ({key}). */
  path?: PathStep[];
}

/** An error carrying diagnostics, thrown from resource code and turned into a response by the server. */
export class DiagnosticError extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(diagnostics.map((d) => d.summary).join('; '));
  }
}

export function error(summary: string, detail: string, path?: PathStep[]): Diagnostic {
  return { severity: 'ERROR', summary, detail, path };
}

/** Throws one error diagnostic. */
export function fail(summary: string, detail: string, path?: PathStep[]): never {
  throw new DiagnosticError([error(summary, detail, path)]);
}

/** The protocol's AttributePath message for a path. */
export function attributePathMessage(path: PathStep[]): Outgoing<AttributePath> {
  return {
    steps: path.map((s) => (typeof s === 'string' ? { attribute_name: s } : typeof s === 'number' ? { element_key_int: s } : { element_key_string: s.key })),
  };
}

/** The protocol's Diagnostic message. */
export function diagnosticMessage(d: Diagnostic): Outgoing<DiagnosticMessage> {
  return { severity: d.severity, summary: d.summary, detail: d.detail, ...(d.path && d.path.length > 0 ? { attribute: attributePathMessage(d.path) } : {}) };
}

/** Diagnostics for anything thrown: a DiagnosticError's own, or one error naming what failed. */
export function diagnosticsOf(e: unknown, summary: string): Diagnostic[] {
  if (e instanceof DiagnosticError) return e.diagnostics;
  const err = e as { code?: string; message?: string };
  const detail = err?.code && typeof err.code === 'string' ? `${err.message} (${err.code})` : String(err?.message ?? e);
  return [error(summary, detail)];
}
