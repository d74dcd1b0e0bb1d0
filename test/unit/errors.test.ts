// The one table of error codes (engine/errors.ts): every code has an HTTP status, a summary and, where it has
// one, a hint written as a sentence; the provider's diagnostics and the API server read their text and status
// from it.

import { ERRORS, ErrorCode, errorInfo } from '../../engine/errors';
import { engineDiagnostic } from '../../provider/cloudlet/connection';
import { CloudletError } from '../../engine/errors';

test('every code has a status, a summary and a well-formed hint', () => {
  const codes = Object.keys(ERRORS) as ErrorCode[];
  expect(codes.length).toBeGreaterThan(30);
  for (const code of codes) {
    const row = errorInfo(code);
    expect({ code, status: row.status >= 400 && row.status <= 599 }).toEqual({ code, status: true });
    expect({ code, summary: /^[A-Za-z'`].{3,}[^.]$/.test(row.summary) }).toEqual({ code, summary: true });
    if (row.hint !== undefined) expect({ code, hint: /^[A-Z`'].+\.$/s.test(row.hint) }).toEqual({ code, hint: true });
  }
  expect(errorInfo('NOT_A_CODE')).toBe(ERRORS.INTERNAL);
  expect(ERRORS.INVALID_ARGUMENT.status).toBe(400);
  expect(ERRORS.UNAUTHORIZED.status).toBe(401);
  expect(ERRORS.NOT_FOUND.status).toBe(404);
  expect(ERRORS.NO_SPACE.status).toBe(507);
});

test('provider diagnostics take their summary and hint from the table', () => {
  const d = engineDiagnostic(new CloudletError('OVERLAY_WRONG_BASE', 'made against base x'), 'unix:/s');
  expect(d.diagnostics[0].summary).toBe(ERRORS.OVERLAY_WRONG_BASE.summary);
  expect(d.diagnostics[0].detail).toContain('made against base x');
  expect(d.diagnostics[0].detail).toContain(ERRORS.OVERLAY_WRONG_BASE.hint);
  expect(d.diagnostics[0].detail).toContain('code OVERLAY_WRONG_BASE');
});
