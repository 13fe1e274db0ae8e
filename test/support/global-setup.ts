import { existsSync } from 'node:fs';

/**
 * One real Redis for the whole suite: REDIS_URL when given; otherwise a throw-away container when a
 * Docker engine answers (testcontainers); otherwise the machine's own Redis at 127.0.0.1:6379. Every test
 * uses its own key prefix, so they never see each other's data.
 */
export default async function setup(): Promise<() => Promise<void>> {
  if (process.env.REDIS_URL) return async () => {};
  const dockerSocket = process.env.DOCKER_HOST || existsSync('/var/run/docker.sock');
  if (dockerSocket) {
    try {
      const { GenericContainer } = await import('testcontainers');
      const container = await new GenericContainer('redis:7-alpine').withExposedPorts(6379).start();
      process.env.REDIS_URL = `redis://${container.getHost()}:${container.getMappedPort(6379)}`;
      return async () => {
        await container.stop();
      };
    } catch {
      // No engine behind the socket: fall through to the local server.
    }
  }
  process.env.REDIS_URL = 'redis://127.0.0.1:6379';
  return async () => {};
}
