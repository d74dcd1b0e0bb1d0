// Progress lines on stderr: a rewritten single line on a terminal, a line every few seconds otherwise (CI logs).

import { formatBytes } from '../contract/format';

export function progressPrinter(label: string): (p: { phase: string; done: number; total: number }) => void {
  const tty = process.stderr.isTTY === true;
  let lastPrint = 0;
  let lastPhase = '';
  return (p) => {
    const now = Date.now();
    const finished = p.done >= p.total;
    if (p.phase === lastPhase && !finished && now - lastPrint < (tty ? 200 : 5000)) return;
    if (p.phase === lastPhase && finished && !tty) return;
    lastPrint = now;
    lastPhase = p.phase;
    let line = `${label}: ${p.phase}`;
    if (p.total > 0) {
      const frac = Math.min(1, p.done / p.total);
      const bar = '#'.repeat(Math.round(frac * 20)).padEnd(20, '.');
      line += ` [${bar}] ${(frac * 100).toFixed(0)}% of ${formatBytes(p.total)}`;
    } else line += ' ...';
    if (tty) process.stderr.write(`\r\x1b[K${line}${finished ? '\n' : ''}`);
    else process.stderr.write(`${line}\n`);
  };
}

export { formatBytes };
