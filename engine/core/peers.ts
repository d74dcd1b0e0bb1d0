// Peers: the other cloudlets this engine can hand instances off to from its own side (the dashboard's
// "VM Handoff" button), each an endpoint and that engine's API token, kept in the state directory (0600) and
// never shown. A push handoff is the pull handoff run by the peer: this engine issues a handoff token for the
// one instance, asks the peer to pull it (POST /v1/handoffs there), and follows the peer's operation to its
// end, so the move itself, its checks and its crash safety are exactly the pull's (handoff-destination.ts).

import { EngineClient } from '../client/client';
import { CreatePeerRequest, HandoffPushRecord, HandoffToRequest, OperationRecord, PeerRecord } from '../contract/schemas';
import { CloudletError } from '../errors';
import { EngineContext } from './context';
import { HandoffSourceService } from './handoff-source';
import { InstanceService } from './instances';
import { createdBy } from './request-context';

export class PeerService {
  constructor(
    private readonly ctx: EngineContext,
    private readonly instances: InstanceService,
    private readonly source: HandoffSourceService,
  ) {}

  list(): PeerRecord[] {
    return this.ctx.store.listPeers();
  }

  add(req: CreatePeerRequest): PeerRecord {
    const rec: PeerRecord = { name: req.name, endpoint: req.endpoint.replace(/\/+$/, ''), ca: req.ca !== undefined, created: new Date().toISOString(), ...createdBy() };
    this.ctx.store.putPeer(rec, req.token, req.ca);
    return rec;
  }

  delete(name: string): void {
    if (!this.ctx.store.getPeer(name)) throw new CloudletError('NOT_FOUND', `no peer ${name}`);
    this.ctx.store.removePeer(name);
  }

  private client(name: string): EngineClient {
    const p = this.ctx.store.getPeer(name);
    if (!p) throw new CloudletError('NOT_FOUND', `no peer ${name}: add it first (cloudlet peer add, or the dashboard's Peers view)`);
    const s = this.ctx.store.peerSecrets(name);
    return new EngineClient({ endpoint: p.endpoint, token: s.token, ca: s.ca, timeoutMs: 30000, client: 'cloudlet-peer' });
  }

  /** Moves a running instance to a peer (see above); this engine's endpoint as the peer reaches it is needed. */
  handoffTo(instanceId: string, req: HandoffToRequest): OperationRecord {
    const again = req.requestId ? this.ctx.ops.byRequestId('handoff-push', req.requestId) : null;
    if (again) return again;
    const inst = this.instances.running(instanceId);
    const self = this.ctx.settings.selfEndpoint;
    if (!self) throw new CloudletError('CONFLICT', 'this engine does not know the endpoint its peers reach it at (it is not serving the API); start it with cloudlet engine serve');
    const peer = this.client(req.peer);
    return this.ctx.ops.start('handoff-push', req.requestId, async (op): Promise<HandoffPushRecord> => {
      op.setTarget({ type: 'instance', id: inst.id });
      try {
        op.phase('ask');
        const grant = this.source.issueHandoffToken(inst.id, 3600);
        const { operation } = await peer.handoffs.create(
          { source: { endpoint: self.endpoint, token: grant.token, ca: self.ca }, instanceId: inst.id, networks: req.networks, ports: req.ports },
          { signal: op.signal },
        );
        op.phase('move');
        // The peer's operation is the move; its phase and bytes are shown as this one's notes and progress.
        let last = '';
        const done = await peer.wait(
          operation,
          (o) => {
            op.progress(o.done, o.total);
            if (o.phase !== last) op.note(`at ${req.peer}: ${(last = o.phase)}`);
          },
          { signal: op.signal },
        );
        if (done.state !== 'succeeded')
          throw new CloudletError('HANDOFF_FAILED', `the move to ${req.peer} did not complete (${done.error?.code ?? done.state}: ${done.error?.message ?? ''}); the VM runs on here`);
        const r = done.result!;
        op.phase('done');
        return { peer: req.peer, instance: r.instance, bytesReceived: r.bytesReceived, downtimeMs: r.downtimeMs, destination: { operation: done.id, timings: done.timings } };
      } finally {
        await peer.close().catch(() => undefined);
      }
    }).rec;
  }
}
