// The cloudlet engine: base VMs, overlays and instances on one state directory, carried out as operations.
// The API layer (engine/api) and nothing else calls this. `Engine` is a facade, configured through
// `Engine.open`, over one service per concern (this folder's files); they share an EngineContext (the store,
// the VM driver, the operation table, the instance locks, the settings). Every multi-step job builds in tmp/
// or in an instance directory marked "creating", so a crash at any point leaves objects that are either whole
// or recognisably unfinished (recovery.ts).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CheckRecord, DoctorRecord, EngineInfo } from '../contract/schemas';
import { WIRE_VERSION } from '../handoff/wire';
import { FORMAT_VERSION } from '../overlay/format';
import { Store } from '../store/store';
import { hypervisorType } from '../vm/domain';
import { VmDriver, embedRootFor } from '../vm/driver';
import { BaseService } from './bases';
import { CaptureService } from './captures';
import { DEFAULT_SETTINGS, EngineContext, EngineSettings, HandoffSettings } from './context';
import { HandoffDestinationService } from './handoff-destination';
import { HandoffSourceService } from './handoff-source';
import { InstanceService } from './instances';
import { NetworkService } from './networks';
import { PeerService } from './peers';
import { hostChecks, listenerCheck } from './doctor';
import { ProbeResult, probeRoundTrip } from '../net/probe';
import { OperationTable } from './operations';
import { OverlayService } from './overlays';
import { RecoveryService } from './recovery';
import { SynthesisService } from './synthesis';

export type { HandoffSourceSpec } from './handoff-destination';

export const ENGINE_VERSION = '0.1.0';

export interface EngineOptions {
  stateDir: string;
  /** Default: the embedded driver on <state>/libvirt. */
  libvirtUri?: string;
  log?: (line: string) => void;
  /** How long a download may wait for headers or stall in its body (default 30 s). */
  fetchTimeoutMs?: number;
  /** Handoff timeouts (defaults: confirmation 120 s, stall 60 s) and a fixed stream level for benchmarks. */
  handoff?: Partial<HandoffSettings>;
  /** The host address ports are published on (default: the source address of the default route). */
  publishAddress?: string;
  /** Map instances' RAM from their base's memory image (default true; see EngineSettings.ramMapping). */
  ramMapping?: boolean;
}

export class Engine {
  readonly store: Store;
  readonly ops: OperationTable;
  readonly uri: string;
  readonly bases: BaseService;
  readonly overlays: OverlayService;
  readonly instances: InstanceService;
  readonly synthesis: SynthesisService;
  readonly handoffSource: HandoffSourceService;
  readonly handoffDestination: HandoffDestinationService;
  readonly peers: PeerService;
  /** The host checks run at start (info reports them). */
  private startChecks: CheckRecord[] = [];
  private readonly recovery: RecoveryService;

  private constructor(private readonly ctx: EngineContext) {
    this.store = ctx.store;
    this.ops = ctx.ops;
    this.uri = ctx.driver.uri;
    this.instances = new InstanceService(ctx);
    const captures = new CaptureService(ctx, this.instances);
    this.bases = new BaseService(ctx, captures);
    this.overlays = new OverlayService(ctx, captures);
    this.synthesis = new SynthesisService(ctx, this.instances);
    this.handoffSource = new HandoffSourceService(ctx, this.instances);
    this.handoffDestination = new HandoffDestinationService(ctx, this.instances);
    this.peers = new PeerService(ctx, this.instances, this.handoffSource);
    this.recovery = new RecoveryService(ctx, this.instances, captures, this.handoffSource);
  }

  get driver(): VmDriver {
    return this.ctx.driver;
  }

  get settings(): Readonly<EngineSettings> {
    return this.ctx.settings;
  }

  /** Takes the state directory, connects to libvirt and recovers from whatever a crash left. */
  static async open(o: EngineOptions): Promise<Engine> {
    const log = o.log ?? (() => undefined);
    const settings: EngineSettings = {
      fetchTimeoutMs: o.fetchTimeoutMs ?? DEFAULT_SETTINGS.fetchTimeoutMs,
      handoff: { ...DEFAULT_SETTINGS.handoff, ...o.handoff },
      publishAddress: o.publishAddress,
      ramMapping: o.ramMapping ?? true,
    };
    const store = new Store(o.stateDir);
    store.lock();
    try {
      const { removedTemp } = store.prepare();
      store.identity();
      if (removedTemp > 0) log(`removed ${removedTemp} unfinished temporary object(s)`);
      const root = embedRootFor(store.root);
      const ctlDir = path.join(root, 'ctl');
      fs.mkdirSync(ctlDir, { recursive: true });
      const driver = await VmDriver.open(o.libvirtUri ?? `qemu:///embed?root=${root}`, log, () => store.leftoverPipes());
      const e = new Engine(new EngineContext(store, driver, new OperationTable(store, log), ctlDir, log, settings));
      try {
        await e.recovery.run();
        // The host side of networking follows the records (rules after an engine upgrade, bridges nobody uses).
        // The host checks spawn a few tools: they run beside the start rather than hold it.
        void hostChecks(e.ctx, { bases: false }).then(
          (checks) => {
            const endpoint = e.ctx.settings.selfEndpoint?.endpoint;
            e.startChecks = checks.map((c) => (c.name === 'listener' && endpoint ? listenerCheck(endpoint) : c));
            for (const c of e.startChecks) if (c.status !== 'ok') log(`doctor: ${c.status} ${c.name}: ${c.detail}${c.fix ? ` (fix: ${c.fix})` : ''}`);
          },
          (err: Error) => log(`doctor: the start checks failed: ${err.message}`),
        );
        if (store.listNetworks().length) {
          await e.ctx.networks.sweepRouters().catch((err: Error) => log(`networking: ${err.message}`));
          await e.ctx.networks.syncHost().catch((err: Error) => log(`networking: ${err.message}`));
        }
      } catch (err) {
        await driver.close();
        throw err;
      }
      return e;
    } catch (err) {
      store.unlock();
      throw err;
    }
  }

  async close(): Promise<void> {
    const running = this.ops.running();
    for (const op of running) op.abort.abort();
    // Cancelled operations still clean up through libvirt (a handoff source resumes its paused VM): give
    // them a moment before the connection goes.
    await Promise.all(running.map((op) => op.wait(30000)));
    await this.ctx.driver.close();
    this.store.unlock();
  }

  info(): EngineInfo {
    const disk = fs.statfsSync(this.store.root);
    return {
      cloudlet: this.store.identity(),
      engine: { version: ENGINE_VERSION, stateDir: this.store.root, pid: process.pid },
      hypervisor: { type: hypervisorType() === 'kvm' ? 'kvm' : 'tcg', libvirtUri: this.ctx.driver.shownUri, embedded: this.ctx.driver.embedded },
      extensions: {
        overlayFormats: [FORMAT_VERSION],
        compressions: ['zstd'],
        baseArchiveFormats: [1],
        synthesis: { fromUrl: true, upload: true, checkWhileDownloading: true },
        handoff: true,
        handoffProtocol: WIRE_VERSION,
      },
      capacity: {
        cpus: os.cpus().length,
        memoryBytes: os.totalmem(),
        freeMemoryBytes: os.freemem(),
        diskFreeBytes: disk.bavail * disk.bsize,
      },
      counts: { bases: this.store.listBases().length, overlays: this.store.listOverlays().length, instances: this.store.listInstances().length, operationsRunning: this.ops.running().length },
      checks: this.startChecks,
    };
  }

  // The API's verbs, each one service's (the server calls nothing else).
  listBases = () => this.bases.list();
  getBase = (id: string) => this.bases.get(id);
  deleteBase = (id: string) => this.bases.delete(id);
  importBase = (req: Parameters<BaseService['import']>[0]) => this.bases.import(req);
  importBaseFromDisk = (req: Parameters<BaseService['importFromDisk']>[0]) => this.bases.importFromDisk(req);
  createBaseFromInstance = (req: Parameters<BaseService['capture']>[0]) => this.bases.capture(req);
  exportBase = (id: string) => this.bases.export(id);
  listOverlays = () => this.overlays.list();
  getOverlay = (id: string) => this.overlays.get(id);
  overlayPath = (id: string) => this.overlays.file(id);
  deleteOverlay = (id: string) => this.overlays.delete(id);
  storeOverlay = (...a: Parameters<OverlayService['storeFrom']>) => this.overlays.storeFrom(...a);
  importOverlay = (req: Parameters<OverlayService['import']>[0]) => this.overlays.import(req);
  createOverlayFromInstance = (req: Parameters<OverlayService['capture']>[0]) => this.overlays.capture(req);
  listInstances = () => this.instances.list();
  getInstance = (id: string) => this.instances.get(id);
  createInstance = (req: Parameters<SynthesisService['createInstance']>[0]) => this.synthesis.createInstance(req);
  setPowerState = (...a: Parameters<InstanceService['setPowerState']>) => this.instances.setPowerState(...a);
  deleteInstance = (id: string) => this.instances.delete(id);
  exec = (...a: Parameters<InstanceService['exec']>) => this.instances.exec(...a);
  writeGuestFile = (...a: Parameters<InstanceService['writeFile']>) => this.instances.writeFile(...a);
  readGuestFile = (...a: Parameters<InstanceService['readFile']>) => this.instances.readFile(...a);
  guestInterfaces = (...a: Parameters<InstanceService['interfaces']>) => this.instances.interfaces(...a);
  issueHandoffToken = (...a: Parameters<HandoffSourceService['issueHandoffToken']>) => this.handoffSource.issueHandoffToken(...a);
  handoffTokenAllows = (...a: Parameters<HandoffSourceService['handoffTokenAllows']>) => this.handoffSource.handoffTokenAllows(...a);
  handoffInfo = (id: string) => this.handoffSource.handoffInfo(id);
  handoffOut = (...a: Parameters<HandoffSourceService['handoffOut']>) => this.handoffSource.handoffOut(...a);
  confirmHandoff = (id: string) => this.handoffSource.confirmHandoff(id);
  handoffIn = (req: Parameters<HandoffDestinationService['handoffIn']>[0]) => this.handoffDestination.handoffIn(req);
  cancelOperation = (id: string) => this.ops.cancel(id);
  listNetworks = () => this.ctx.networks.list();
  getNetwork = (id: string) => this.ctx.networks.get(id);
  createNetwork = (...a: Parameters<NetworkService['create']>) => this.ctx.networks.create(...a);
  deleteNetwork = (id: string) => this.ctx.networks.delete(id);
  listPeers = () => this.peers.list();
  /** Round trip from this host to a client address (placement near clients). */
  probe = (address: string, port = 443, attempts = 3): Promise<ProbeResult> => probeRoundTrip(address, port, attempts);

  doctor = async (): Promise<DoctorRecord> => {
    const checks = await hostChecks(this.ctx, { bases: true });
    return { checks, blocking: checks.some((c) => c.status === 'fail') };
  };
  addPeer = (...a: Parameters<PeerService['add']>) => this.peers.add(...a);
  deletePeer = (name: string) => this.peers.delete(name);
  handoffTo = (...a: Parameters<PeerService['handoffTo']>) => this.peers.handoffTo(...a);
  uploadBase = (...a: Parameters<BaseService['importStream']>) => this.bases.importStream(...a);

  /** Where peers reach this engine's API (set once it serves), for push handoffs. */
  setSelfEndpoint(endpoint: string, ca?: string): void {
    this.ctx.settings.selfEndpoint = { endpoint, ca };
    // The start's checks may have finished before the engine listened: the listener's is now known.
    if (!this.startChecks.length) return; // still running: they read the endpoint when they finish
    this.startChecks = this.startChecks.map((c) => (c.name === 'listener' ? listenerCheck(endpoint) : c));
    const l = this.startChecks.find((c) => c.name === 'listener');
    if (l && l.status !== 'ok') this.ctx.log(`doctor: ${l.status} listener: ${l.detail} (fix: ${l.fix})`);
  }
}
