// One view per kind of object, as the OpenStack++ panel had them: tables with each row's buttons, and the
// forms for making new ones. Every name, id and message is rendered as text (Preact escapes it).

import { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { InstanceDetailRecord, OperationRecord } from '../../contract/schemas';
import { api, downloadOverlay } from './api';
import { AddPeerForm, CreateNetworkForm, HandoffButton, ImportBaseForm, Notice, ResumeButton, Say, SynthesizeForm, UploadOverlayForm, act } from './actions';
import { Cloudlet, bytes, short } from './data';
import { Timeline } from './timeline';

function Managed(props: { by?: string }) {
  if (!props.by) return null;
  return props.by === 'terraform' ? (
    <span class="badge tf" title="Made by Terraform: a change here is undone by the next cdktf deploy">
      Terraform
    </span>
  ) : (
    <span class="badge">{props.by}</span>
  );
}

function View(props: { title: string; children: ComponentChildren; notice?: Notice }) {
  return (
    <section aria-labelledby={`h-${props.title}`}>
      <h2 id={`h-${props.title}`}>{props.title}</h2>
      {props.notice && (
        <p class={props.notice.error ? 'notice error' : 'notice'} role="status">
          {props.notice.text}
        </p>
      )}
      {props.children}
    </section>
  );
}

function useNotice(): [Notice | undefined, Say] {
  const [n, setN] = useState<Notice | undefined>();
  return [n, setN];
}

function Table(props: { label: string; head: string[]; empty: string; children: ComponentChildren[] }) {
  if (!props.children.length) return <p class="muted">{props.empty}</p>;
  return (
    <table aria-label={props.label}>
      <thead>
        <tr>
          {props.head.map((h) => (
            <th key={h} scope="col">
              {h}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>{props.children}</tbody>
    </table>
  );
}

export function BasesView(props: { c: Cloudlet }) {
  const { c } = props;
  const [notice, say] = useNotice();
  return (
    <View title="Base VMs" notice={notice}>
      <Table label="Base VMs" head={['Name', 'Id', 'Disk', 'Memory', 'Machine / CPU', 'Used by', '']} empty="No base VMs yet: import one below.">
        {c.bases.map((b) => {
          const users = c.instances.filter((i) => i.baseId === b.id).length + c.overlays.filter((o) => o.baseId === b.id).length;
          return (
            <tr key={b.id} data-base={b.id}>
              <td>
                {b.name} <Managed by={b.createdBy} />
              </td>
              <td>
                <code title={b.id}>{short(b.id)}</code>
              </td>
              <td>{bytes(b.disk.bytes)}</td>
              <td>
                {b.memoryMiB} MiB ({bytes(b.memory.bytes)} saved)
              </td>
              <td>
                {b.machine ?? '?'} / {b.cpuModel}, {b.vcpus} vCPU
              </td>
              <td>{users ? `${users} object${users > 1 ? 's' : ''}` : 'nothing'}</td>
              <td class="actions">
                <ResumeButton c={c} say={say} baseId={b.id} baseName={b.name} />
                <button type="button" onClick={() => void act(say, c, `Delete base ${b.name}`, () => api.bases.delete(b.id), b.createdBy)}>
                  Delete
                </button>
              </td>
            </tr>
          );
        })}
      </Table>
      <ImportBaseForm c={c} say={say} />
    </View>
  );
}

export function OverlaysView(props: { c: Cloudlet }) {
  const { c } = props;
  const [notice, say] = useNotice();
  return (
    <View title="Overlays" notice={notice}>
      <Table label="Overlays" head={['Id', 'Base', 'Size', 'Made from', '']} empty="No overlays yet: create one from a running instance.">
        {c.overlays.map((o) => (
          <tr key={o.id} data-overlay={o.id}>
            <td>
              <code title={o.id}>{short(o.id)}</code> <Managed by={o.createdBy} />
            </td>
            <td>{c.bases.find((b) => b.id === o.baseId)?.name ?? short(o.baseId)}</td>
            <td>{bytes(o.bytes)}</td>
            <td>{o.source}</td>
            <td class="actions">
              <button type="button" onClick={() => void act(say, c, `Download VM overlay ${short(o.id)}`, () => downloadOverlay(o.id))}>
                Download VM overlay
              </button>
              <button type="button" onClick={() => void act(say, c, `Delete overlay ${short(o.id)}`, () => api.overlays.delete(o.id), o.createdBy)}>
                Delete
              </button>
            </td>
          </tr>
        ))}
      </Table>
      <UploadOverlayForm c={c} say={say} />
    </View>
  );
}

function Endpoints(props: { i: InstanceDetailRecord }) {
  const { i } = props;
  return (
    <>
      {i.addresses.join(', ') || '-'}
      {i.endpoints.map((u) => (
        <div key={u}>
          {/^https?:/.test(u) ? (
            <a href={u} target="_blank" rel="noopener noreferrer">
              {u}
            </a>
          ) : (
            <code>{u}</code>
          )}
        </div>
      ))}
    </>
  );
}

export function InstancesView(props: { c: Cloudlet }) {
  const { c } = props;
  const [notice, say] = useNotice();
  const power = (i: InstanceDetailRecord, state: 'running' | 'paused' | 'stopped', label: string) => (
    <button type="button" disabled={i.state === state} onClick={() => void act(say, c, `${label} ${i.name}`, () => api.instances.power(i.id, { state }), i.createdBy)}>
      {label}
    </button>
  );
  return (
    <View title="Instances" notice={notice}>
      <Table label="Instances" head={['Name', 'State', 'Address and endpoints', 'Placement', 'Made from', 'Timings', '']} empty="No instances yet: synthesize one below, or resume a base VM.">
        {c.instances.map((i) => (
          <tr key={i.id} data-instance={i.name}>
            <td>
              {i.name} <Managed by={i.createdBy} />
              <div class="muted">
                <code>{i.id}</code>
              </div>
            </td>
            <td>
              <span class={`state ${i.state}`}>{i.state}</span>
            </td>
            <td>
              <Endpoints i={i} />
            </td>
            <td>{c.info ? c.info.cloudlet.name : ''}</td>
            <td>
              {c.bases.find((b) => b.id === i.baseId)?.name ?? short(i.baseId)}
              {i.overlayId && (
                <div class="muted">
                  overlay <code>{short(i.overlayId)}</code>
                </div>
              )}
            </td>
            <td>
              {Object.entries(i.timings)
                .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
                .join(', ')}
            </td>
            <td class="actions">
              {power(i, 'running', 'Start')}
              {power(i, 'paused', 'Pause')}
              {power(i, 'stopped', 'Stop')}
              <button type="button" disabled={i.state !== 'running'} onClick={() => void act(say, c, `Create VM overlay of ${i.name}`, () => api.overlays.import({ instanceId: i.id }))}>
                Create VM overlay
              </button>
              <HandoffButton c={c} say={say} instanceId={i.id} instanceName={i.name} managedBy={i.createdBy} ports={i.network?.ports ?? []} />
              <button type="button" class="danger" onClick={() => void act(say, c, `Terminate ${i.name}`, () => api.instances.delete(i.id), i.createdBy)}>
                Terminate
              </button>
            </td>
          </tr>
        ))}
      </Table>
      <SynthesizeForm c={c} say={say} />
    </View>
  );
}

export function NetworksView(props: { c: Cloudlet }) {
  const { c } = props;
  const [notice, say] = useNotice();
  return (
    <View title="Networks" notice={notice}>
      <Table label="Networks" head={['Name', 'Range', 'Gateway', 'Instances', '']} empty="No networks yet: the default one is made when the first instance needs it.">
        {c.networks.map((n) => (
          <tr key={n.id}>
            <td>
              {n.name} {n.default && <span class="badge">default</span>} <Managed by={n.createdBy} />
            </td>
            <td>{n.cidr}</td>
            <td>{n.gateway}</td>
            <td>{n.instances.map((id) => c.instances.find((i) => i.id === id)?.name ?? id).join(', ') || '-'}</td>
            <td class="actions">
              <button type="button" onClick={() => void act(say, c, `Delete network ${n.name}`, () => api.networks.delete(n.id), n.createdBy)}>
                Delete
              </button>
            </td>
          </tr>
        ))}
      </Table>
      <CreateNetworkForm c={c} say={say} />
    </View>
  );
}

export function PeersView(props: { c: Cloudlet }) {
  const { c } = props;
  const [notice, say] = useNotice();
  return (
    <View title="Peers" notice={notice}>
      <Table label="Peers" head={['Name', 'Endpoint', 'Added', '']} empty="No peers yet: add the cloudlets this one may hand instances off to.">
        {c.peers.map((p) => (
          <tr key={p.name}>
            <td>{p.name}</td>
            <td>
              <code>{p.endpoint}</code>
            </td>
            <td>{new Date(p.created).toLocaleString()}</td>
            <td class="actions">
              <button type="button" onClick={() => void act(say, c, `Forget peer ${p.name}`, () => api.peers.delete(p.name))}>
                Forget
              </button>
            </td>
          </tr>
        ))}
      </Table>
      <AddPeerForm c={c} say={say} />
    </View>
  );
}

function Progress(props: { op: OperationRecord }) {
  const { op } = props;
  if (op.state !== 'running') return <span class={`state ${op.state}`}>{op.state}</span>;
  const pct = op.total > 0 ? Math.min(100, (100 * op.done) / op.total) : undefined;
  return (
    <span>
      {op.phase}{' '}
      {pct !== undefined ? (
        <progress max={100} value={pct} aria-label={`${op.kind} ${op.phase}`}>
          {pct.toFixed(0)} %
        </progress>
      ) : (
        <progress aria-label={`${op.kind} ${op.phase}`} />
      )}{' '}
      {op.done > 0 && bytes(op.done)}
      {op.total > 0 && ` of ${bytes(op.total)}`}
    </span>
  );
}

export function OperationsView(props: { c: Cloudlet }) {
  const { c } = props;
  const [notice, say] = useNotice();
  const ops = [...c.operations].sort((a, b) => b.created.localeCompare(a.created)).slice(0, 50);
  return (
    <View title="Operations" notice={notice}>
      <Table label="Operations" head={['Kind', 'Target', 'Progress', 'Phases', 'Started', '']} empty="No operations yet.">
        {ops.map((op) => (
          <tr key={op.id} data-operation={op.kind}>
            <td>
              {op.kind}
              <div class="muted">
                <code>{op.id}</code>
              </div>
            </td>
            <td>{op.target ? `${op.target.type} ${op.target.type === 'instance' ? (c.instances.find((i) => i.id === op.target!.id)?.name ?? op.target.id) : short(op.target.id)}` : '-'}</td>
            <td>
              <Progress op={op} />
              {op.error && <div class="error">{`${op.error.code}: ${op.error.message}`}</div>}
              {op.notes?.length ? <div class="muted">{op.notes.join(' → ')}</div> : null}
            </td>
            <td>
              <Timeline op={op} />
            </td>
            <td>{new Date(op.created).toLocaleTimeString()}</td>
            <td class="actions">
              {op.state === 'running' && (
                <button type="button" onClick={() => void act(say, c, `Cancel ${op.kind}`, () => api.operations.cancel(op.id))}>
                  Cancel
                </button>
              )}
            </td>
          </tr>
        ))}
      </Table>
    </View>
  );
}
