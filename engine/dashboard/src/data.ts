// What the page shows, read from the engine every two seconds (and at once after an action): the cloudlet,
// its objects, its peers and recent operations. Instances are read one by one for their endpoints.

import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { BaseRecord, EngineInfo, InstanceDetailRecord, NetworkViewRecord, OperationRecord, OverlayViewRecord, PeerRecord } from '../../contract/schemas';
import { api, describe } from './api';

export interface Cloudlet {
  info?: EngineInfo;
  bases: BaseRecord[];
  overlays: OverlayViewRecord[];
  instances: InstanceDetailRecord[];
  networks: NetworkViewRecord[];
  peers: PeerRecord[];
  operations: OperationRecord[];
  error?: string;
  /** Reads everything again now (after an action). */
  refresh(): void;
}

const POLL_MS = 2000;

export function useCloudlet(): Cloudlet {
  const [data, setData] = useState<Omit<Cloudlet, 'refresh'>>({ bases: [], overlays: [], instances: [], networks: [], peers: [], operations: [] });
  const timer = useRef<number | undefined>(undefined);
  const load = useCallback(async () => {
    window.clearTimeout(timer.current);
    try {
      const [info, bases, overlays, list, networks, peers, operations] = await Promise.all([
        api.engine.info(),
        api.bases.list(),
        api.overlays.list(),
        api.instances.list(),
        api.networks.list(),
        api.peers.list(),
        api.operations.list(),
      ]);
      const instances = await Promise.all(list.instances.map((i) => api.instances.get(i.id).catch(() => ({ ...i, agentSocket: '', consoleLog: '', addresses: [], endpoints: [] }))));
      setData({ info, bases: bases.bases, overlays: overlays.overlays, instances, networks: networks.networks, peers: peers.peers, operations: operations.operations });
    } catch (e) {
      setData((d) => ({ ...d, error: describe(e) }));
    } finally {
      timer.current = window.setTimeout(() => void load(), POLL_MS);
    }
  }, []);
  useEffect(() => {
    void load();
    return () => window.clearTimeout(timer.current);
  }, [load]);
  return { ...data, refresh: () => void load() };
}

export const short = (id: string) => id.slice(0, 12);

export { formatBytes as bytes } from '../../contract/format';
