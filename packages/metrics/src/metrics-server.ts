import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/**
 * A worker's own small HTTP port: `GET /metrics` (Prometheus text) and `GET /health` (liveness probe).
 * `port` 0 picks a free port; the returned server tells which.
 */
export function startMetricsServer(registry: Registry, port: number, host = '0.0.0.0'): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        })
        .catch(() => {
          res.writeHead(500).end();
        });
      return;
    }
    if (req.method === 'GET' && req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    res
      .writeHead(404, { 'content-type': 'application/json' })
      .end('{"error":{"code":"not_found","message":"not found"}}');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

/** The port a metrics server got (useful with port 0), or null when it did not start. */
export function boundPort(server: Server | null): number | null {
  const a = server?.address();
  return typeof a === 'object' && a ? a.port : null;
}
