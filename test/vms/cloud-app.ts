// The benchmark application for the cloud-style guest: nginx in front of a Python web service that answers
// from a SQLite database, installed into a running VM through the QEMU guest agent only (files written by the
// agent, commands run by it), as a `cloudlet_customization` would. Used by the cloud-guest tests and benches.

import { createHash } from 'node:crypto';

export const APP_PY = `#!/usr/bin/env python3
# cloudlet benchmark app: answers GET / with what its SQLite database holds, GET /item/N with one row's digest.
import hashlib, http.server, json, socket, sqlite3

DB = '/var/lib/cloudlet-app/app.db'

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        db = sqlite3.connect(DB)
        try:
            if self.path == '/':
                rows, total = db.execute('SELECT COUNT(*), SUM(LENGTH(payload)) FROM items').fetchone()
                body = {'host': socket.gethostname(), 'rows': rows, 'bytes': total}
            elif self.path.startswith('/item/'):
                row = db.execute('SELECT payload FROM items WHERE id = ?', (int(self.path[6:]),)).fetchone()
                if row is None:
                    self.send_error(404)
                    return
                body = {'sha256': hashlib.sha256(row[0]).hexdigest()}
            else:
                self.send_error(404)
                return
        finally:
            db.close()
        data = (json.dumps(body) + '\\n').encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(('127.0.0.1', 8081), Handler).serve_forever()
`;

/** Fills the database with ROWS rows of 64 KiB each, deterministic (row i is sha256 chains seeded by i). */
export const MAKE_DB_PY = `#!/usr/bin/env python3
import hashlib, os, sqlite3, sys
rows = int(sys.argv[1])
os.makedirs('/var/lib/cloudlet-app', exist_ok=True)
db = sqlite3.connect('/var/lib/cloudlet-app/app.db')
db.execute('CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, payload BLOB)')
for i in range(rows):
    h = hashlib.sha256(str(i).encode()).digest()
    chunk = bytearray()
    while len(chunk) < 65536:
        h = hashlib.sha256(h).digest()
        chunk += h
    db.execute('INSERT OR REPLACE INTO items VALUES (?, ?)', (i, bytes(chunk)))
db.commit()
db.close()
`;

/** The digest the app reports for row i (computed the same way on the host). */
export function itemDigest(i: number): string {
  let h = createHash('sha256').update(String(i)).digest();
  const parts: Buffer[] = [];
  let n = 0;
  while (n < 65536) {
    h = createHash('sha256').update(h).digest();
    parts.push(h);
    n += h.length;
  }
  return createHash('sha256').update(Buffer.concat(parts)).digest('hex');
}

export const APP_UNIT = `[Unit]
Description=cloudlet benchmark app
After=network.target

[Service]
ExecStart=/usr/bin/python3 /opt/cloudlet-app/app.py
Restart=always

[Install]
WantedBy=multi-user.target
`;

export const NGINX_SITE = `server {
    listen 80 default_server;
    location / {
        proxy_pass http://127.0.0.1:8081;
    }
}
`;

export interface AppFile {
  path: string;
  content: string;
  mode?: string;
}

export function appFiles(): AppFile[] {
  return [
    { path: '/opt/cloudlet-app/app.py', content: APP_PY, mode: '0755' },
    { path: '/opt/cloudlet-app/make-db.py', content: MAKE_DB_PY, mode: '0755' },
    { path: '/etc/systemd/system/cloudlet-app.service', content: APP_UNIT, mode: '0644' },
    { path: '/etc/nginx/sites-available/default', content: NGINX_SITE, mode: '0644' },
  ];
}

/** Commands after the files: the database (rows × 64 KiB), the service, nginx, and a check that it answers. */
export function appCommands(rows: number): string[] {
  return [
    `python3 /opt/cloudlet-app/make-db.py ${rows}`,
    'systemctl daemon-reload && systemctl enable --now cloudlet-app.service && systemctl restart nginx',
    'for i in $(seq 1 50); do curl -fsS http://127.0.0.1/ && exit 0; sleep 0.2; done; exit 1',
  ];
}
