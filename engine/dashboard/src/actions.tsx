// The panel's buttons as small forms: each calls one API method, the same the CLI and the provider call, and
// reports what happened (an operation is then followed in the Operations view). Changing an object that
// Terraform made says that the next `cdktf deploy` will put it back.

import { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { api, describe, uploadFile } from './api';
import type { PublishedPortRecord } from '../../contract/schemas';
import type { Cloudlet } from './data';

/** What an action said last, shown under the view's title. */
export interface Notice {
  text: string;
  error?: boolean;
}

export type Say = (n: Notice) => void;

/** Runs an action: its outcome (and, for a Terraform-managed object, the reminder) goes to `say`. */
export async function act(say: Say, c: Cloudlet, what: string, work: () => Promise<unknown>, managedBy?: string): Promise<boolean> {
  try {
    await work();
    say({ text: `${what}: done.${managedBy === 'terraform' ? ' Terraform manages this object: the next cdktf deploy will put it back as its configuration says.' : ''}` });
    c.refresh();
    return true;
  } catch (e) {
    say({ text: `${what}: ${describe(e)}`, error: true });
    return false;
  }
}

function Field(props: { id: string; label: string; children: ComponentChildren }) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.children}
    </div>
  );
}

const value = (e: Event) => (e.target as HTMLInputElement).value;

export function ImportBaseForm(props: { c: Cloudlet; say: Say }) {
  const [source, setSource] = useState('');
  const [sha256, setSha256] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [sent, setSent] = useState<string>('');
  const submit = async (e: Event) => {
    e.preventDefault();
    if (file) {
      await act(props.say, props.c, `Import Base VM from ${file.name}`, () => uploadFile(file, 'base', (n, t) => setSent(`${Math.round((100 * n) / Math.max(1, t))} %`)));
      setSent('');
    } else await act(props.say, props.c, 'Import Base VM', () => api.bases.import({ source, ...(sha256 ? { sha256 } : {}) }));
  };
  return (
    <form class="action" aria-label="Import Base VM" onSubmit={(e) => void submit(e)}>
      <h3>Import Base VM</h3>
      <Field id="import-source" label="Archive URL or path on the cloudlet host">
        <input id="import-source" value={source} onInput={(e) => setSource(value(e))} placeholder="https://…/base.tar" disabled={!!file} />
      </Field>
      <Field id="import-file" label="or upload an archive">
        <input id="import-file" type="file" accept=".tar,application/x-tar" onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] ?? null)} />
      </Field>
      <Field id="import-sha" label="Base id (optional)">
        <input id="import-sha" value={sha256} onInput={(e) => setSha256(value(e))} pattern="[0-9a-f]{64}" />
      </Field>
      <button type="submit" disabled={!source && !file}>
        Import Base VM
      </button>
      {sent && <span class="muted"> uploaded {sent}</span>}
    </form>
  );
}

export function UploadOverlayForm(props: { c: Cloudlet; say: Say }) {
  const [file, setFile] = useState<File | null>(null);
  const [url, setUrl] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    if (file) await act(props.say, props.c, `Upload overlay ${file.name}`, () => uploadFile(file, 'overlay', () => undefined));
    else await act(props.say, props.c, 'Import overlay', () => api.overlays.import({ url }));
  };
  return (
    <form class="action" aria-label="Import overlay" onSubmit={(e) => void submit(e)}>
      <h3>Import overlay</h3>
      <Field id="overlay-url" label="Overlay URL or path on the cloudlet host">
        <input id="overlay-url" value={url} onInput={(e) => setUrl(value(e))} disabled={!!file} />
      </Field>
      <Field id="overlay-file" label="or upload an overlay file">
        <input id="overlay-file" type="file" onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] ?? null)} />
      </Field>
      <button type="submit" disabled={!url && !file}>
        Import overlay
      </button>
    </form>
  );
}

export function SynthesizeForm(props: { c: Cloudlet; say: Say }) {
  const { c } = props;
  const [name, setName] = useState('');
  const [baseId, setBaseId] = useState('');
  const [overlay, setOverlay] = useState('');
  const [overlayUrl, setOverlayUrl] = useState('');
  const [port, setPort] = useState('');
  const base = baseId || c.bases[0]?.id || '';
  const submit = async (e: Event) => {
    e.preventDefault();
    const ports = port ? [{ guest: Number(port) }] : undefined;
    const ov = overlayUrl ? { url: overlayUrl } : overlay ? { id: overlay } : undefined;
    await act(props.say, c, `Start VM Synthesis of ${name}`, () => api.instances.create({ name, baseId: base, overlay: ov, ports }));
  };
  return (
    <form class="action" aria-label="Start VM Synthesis" onSubmit={(e) => void submit(e)}>
      <h3>Start VM Synthesis</h3>
      <Field id="syn-name" label="Instance name">
        <input id="syn-name" value={name} onInput={(e) => setName(value(e))} required pattern="[a-z0-9][a-z0-9-]{0,62}" />
      </Field>
      <Field id="syn-base" label="Base VM">
        <select id="syn-base" value={base} onChange={(e) => setBaseId(value(e))}>
          {c.bases.map((b) => (
            <option key={b.id} value={b.id}>
              {b.name} ({b.id.slice(0, 12)})
            </option>
          ))}
        </select>
      </Field>
      <Field id="syn-overlay" label="Overlay stored here">
        <select id="syn-overlay" value={overlay} onChange={(e) => setOverlay(value(e))} disabled={!!overlayUrl}>
          <option value="">none: the base as it is</option>
          {c.overlays
            .filter((o) => o.baseId === base)
            .map((o) => (
              <option key={o.id} value={o.id}>
                {o.id.slice(0, 12)} ({o.source})
              </option>
            ))}
        </select>
      </Field>
      <Field id="syn-url" label="or an overlay URL">
        <input id="syn-url" value={overlayUrl} onInput={(e) => setOverlayUrl(value(e))} />
      </Field>
      <Field id="syn-port" label="Publish guest port (optional)">
        <input id="syn-port" value={port} onInput={(e) => setPort(value(e))} inputMode="numeric" pattern="[0-9]{1,5}" />
      </Field>
      <button type="submit" disabled={!name || !base}>
        Start VM Synthesis
      </button>
    </form>
  );
}

export function ResumeButton(props: { c: Cloudlet; say: Say; baseId: string; baseName: string }) {
  const [name, setName] = useState('');
  return (
    <form
      class="inline"
      aria-label={`Resume Base VM ${props.baseName}`}
      onSubmit={(e) => {
        e.preventDefault();
        void act(props.say, props.c, `Resume Base VM ${props.baseName}`, () => api.instances.create({ name, baseId: props.baseId }));
      }}
    >
      <label class="sr-only" for={`resume-${props.baseId}`}>
        Name of the resumed VM
      </label>
      <input id={`resume-${props.baseId}`} placeholder="new VM name" value={name} onInput={(e) => setName(value(e))} required pattern="[a-z0-9][a-z0-9-]{0,62}" />
      <button type="submit">Resume Base VM</button>
    </form>
  );
}

export function HandoffButton(props: { c: Cloudlet; say: Say; instanceId: string; instanceName: string; managedBy?: string; ports: PublishedPortRecord[] }) {
  const [peer, setPeer] = useState('');
  const { c } = props;
  if (!c.peers.length) return <span class="muted">add a peer to hand off</span>;
  const chosen = peer || c.peers[0].name;
  return (
    <form
      class="inline"
      aria-label={`VM Handoff of ${props.instanceName}`}
      onSubmit={(e) => {
        e.preventDefault();
        void act(
          props.say,
          c,
          `VM Handoff of ${props.instanceName} to ${chosen}`,
          // The same guest ports are published at the destination, on host ports it picks.
          () => api.instances.handoffTo(props.instanceId, { peer: chosen, ...(props.ports.length ? { ports: props.ports.map((p) => ({ guest: p.guest, protocol: p.protocol })) } : {}) }),
          props.managedBy,
        );
      }}
    >
      <label class="sr-only" for={`peer-${props.instanceId}`}>
        Peer to hand {props.instanceName} off to
      </label>
      <select id={`peer-${props.instanceId}`} value={chosen} onChange={(e) => setPeer(value(e))}>
        {c.peers.map((p) => (
          <option key={p.name} value={p.name}>
            {p.name}
          </option>
        ))}
      </select>
      <button type="submit">VM Handoff</button>
    </form>
  );
}

export function AddPeerForm(props: { c: Cloudlet; say: Say }) {
  const [name, setName] = useState('');
  const [endpoint, setEndpoint] = useState('');
  const [token, setToken] = useState('');
  return (
    <form
      class="action"
      aria-label="Add peer"
      onSubmit={(e) => {
        e.preventDefault();
        void act(props.say, props.c, `Add peer ${name}`, () => api.peers.create({ name, endpoint, token })).then((ok) => ok && setToken(''));
      }}
    >
      <h3>Add peer</h3>
      <Field id="peer-name" label="Name">
        <input id="peer-name" value={name} onInput={(e) => setName(value(e))} required pattern="[a-z0-9][a-z0-9-]{0,62}" />
      </Field>
      <Field id="peer-endpoint" label="Endpoint">
        <input id="peer-endpoint" value={endpoint} onInput={(e) => setEndpoint(value(e))} required placeholder="https://cloudlet-b:7443" />
      </Field>
      <Field id="peer-token" label="Its API token (kept on this engine, never shown)">
        <input id="peer-token" type="password" autocomplete="off" value={token} onInput={(e) => setToken(value(e))} required minLength={16} />
      </Field>
      <button type="submit">Add peer</button>
    </form>
  );
}

export function CreateNetworkForm(props: { c: Cloudlet; say: Say }) {
  const [name, setName] = useState('');
  const [cidr, setCidr] = useState('');
  return (
    <form
      class="action"
      aria-label="Create network"
      onSubmit={(e) => {
        e.preventDefault();
        void act(props.say, props.c, `Create network ${name}`, () => api.networks.create({ name, ...(cidr ? { cidr } : {}) }));
      }}
    >
      <h3>Create network</h3>
      <Field id="net-name" label="Name">
        <input id="net-name" value={name} onInput={(e) => setName(value(e))} required pattern="[a-z0-9][a-z0-9-]{0,62}" />
      </Field>
      <Field id="net-cidr" label="Range (optional, CIDR)">
        <input id="net-cidr" value={cidr} onInput={(e) => setCidr(value(e))} placeholder="10.20.0.0/24" />
      </Field>
      <button type="submit">Create network</button>
    </form>
  );
}
