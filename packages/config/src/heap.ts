/**
 * The V8 heap cap each service process runs with. Node 20 sizes its heap from the machine's memory, not
 * from the container's limit: on a 24 GB machine V8 lets the api's heap grow lazily by ~130 MB of garbage
 * during a 20,000-job burst (live heap stays ~50 MB), which in a 512Mi pod ends in an OOM kill. With a cap
 * that fits the pod, V8 collects sooner and the burst costs ~25 MB of RSS (`npm run bench -- burst`).
 * The Kubernetes files and compose set the same value through NODE_OPTIONS; `infra/tools/check-deploy.ts`
 * checks it fits each container's memory limit.
 */
export const SERVICE_HEAP_MB = 384;

/** The node flag for it, unless the caller's NODE_OPTIONS already sets one (an operator's choice wins). */
export function heapFlags(nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  return /--max-old-space-size[=\s]/.test(nodeOptions) ? [] : [`--max-old-space-size=${SERVICE_HEAP_MB}`];
}

/** The heap cap, in MiB, that a NODE_OPTIONS value sets; null when it sets none. */
export function heapCapOf(nodeOptions: string): number | null {
  const m = /--max-old-space-size[=\s](\d+)/.exec(nodeOptions);
  return m ? Number(m[1]) : null;
}
