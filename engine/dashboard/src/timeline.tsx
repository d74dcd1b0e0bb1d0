// The picture of an operation: one bar per phase, in the order it ran, scaled to the whole (a synthesis's
// fetch, apply and restore; a handoff's check, transfer with its pre-copy, restore, confirm), and, for a
// handoff, the pause the guest saw.

import type { OperationRecord } from '../../contract/schemas';

const COLORS = ['#3b6ea5', '#5b9a68', '#c28a2c', '#8c5fa8', '#b5534b', '#4f8f8f', '#7a7a3a', '#a0607f'];

export function Timeline(props: { op: OperationRecord }) {
  const phases = Object.entries(props.op.timings).filter(([k, v]) => k !== 'total' && v > 0);
  const total = phases.reduce((a, [, v]) => a + v, 0);
  const downtimeMs = (props.op.result as { downtimeMs?: number | null } | undefined)?.downtimeMs;
  if (!phases.length || total <= 0) return <span class="muted">no phases yet</span>;
  let x = 0;
  const width = 360;
  const label = phases.map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(', ');
  return (
    <figure class="timeline">
      <svg width={width} height={22} role="img" aria-label={`phases: ${label}${typeof downtimeMs === 'number' ? `; downtime ${(downtimeMs / 1000).toFixed(2)} s` : ''}`}>
        {phases.map(([k, v], i) => {
          const w = Math.max(1, (v / total) * width);
          const rect = <rect key={k} x={x} y={2} width={w} height={18} fill={COLORS[i % COLORS.length]} />;
          x += w;
          return rect;
        })}
      </svg>
      <figcaption>
        {phases.map(([k, v], i) => (
          <span key={k} class="phase">
            <span class="swatch" style={{ background: COLORS[i % COLORS.length] }} aria-hidden="true" /> {k} {v.toFixed(2)} s
          </span>
        ))}
        {typeof downtimeMs === 'number' && <span class="phase">guest paused {(downtimeMs / 1000).toFixed(2)} s</span>}
      </figcaption>
    </figure>
  );
}
