// `cloudlet dashboard`: a one-time login link to the engine's dashboard. An engine on TCP serves the page
// itself; the local default listens on a unix socket a browser cannot open, so this command opens a loopback
// port and relays it to the socket until it is stopped (Ctrl-C). The link's code is in its fragment (never
// sent to a server or logged), logs one browser in once, and expires in 5 minutes.

import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { EngineClient } from '../client/client';
import { CloudletError } from '../errors';

export async function dashboardCommand(c: EngineClient, o: { port?: number }, out: (s: string) => void): Promise<void> {
  const { code } = await c.dashboard.loginCode();
  const endpoint = c.o.endpoint;
  if (!endpoint.startsWith('unix:')) {
    out(`${endpoint}/dashboard/#login=${code}`);
    out('(one-time link, valid 5 minutes)');
    return;
  }
  const socketPath = endpoint.slice('unix:'.length);
  const relay = http.createServer((req, res) => {
    const up = http.request({ socketPath, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`the engine at ${endpoint} did not answer: ${e.message}\n`);
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve, reject) => {
    relay.once('error', (e: NodeJS.ErrnoException) => reject(new CloudletError(e.code === 'EADDRINUSE' ? 'PORT_IN_USE' : 'INVALID_ARGUMENT', `--port ${o.port ?? 0}: ${e.message}`)));
    relay.listen(o.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (relay.address() as AddressInfo).port;
  out(`http://127.0.0.1:${port}/dashboard/#login=${code}`);
  out('(one-time link, valid 5 minutes; this command relays the dashboard to the local engine until you stop it with Ctrl-C)');
  await new Promise<void>((resolve) => {
    const stop = () => relay.close(() => resolve());
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
