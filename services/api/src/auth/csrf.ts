const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** `scheme://host[:port]` with default ports dropped and case folded; null for anything else (`null`, junk). */
export function canonicalOrigin(value: string): string | null {
  try {
    const u = new URL(value);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    return u.origin;
  } catch {
    return null;
  }
}

/**
 * Whether `origin` is a page of the host the request was sent to. The scheme is not compared: behind a
 * TLS-terminating proxy without TRUST_PROXY the api sees http while the page is https.
 */
export function isHostOf(origin: string, host: string): boolean {
  const o = new URL(origin);
  const h = host.toLowerCase();
  const port = o.port || (o.protocol === 'https:' ? '443' : '80');
  return h === o.host || h === `${o.hostname}:${port}`;
}

export interface CrossSiteInput {
  method: string;
  /** The `Origin` header, if sent. */
  origin: string | undefined;
  /** The `Sec-Fetch-Site` header, if sent. */
  secFetchSite: string | undefined;
  /** The request carries `Authorization: Bearer`: a page on another site cannot send that without CORS. */
  bearer: boolean;
  /** The request's Host (with TRUST_PROXY, X-Forwarded-Host): a page of this api's own host is ours. */
  host: string;
  /** CORS_ORIGINS: other origins whose pages may use the cookie. */
  allowed: readonly string[];
}

/**
 * Why a state-changing request looks forged by another site (CSRF), or null when it may proceed.
 * Browsers send `Origin` on every POST/PUT/PATCH/DELETE; without one (older browsers, programs) we fall
 * back to `Sec-Fetch-Site`, and a request with neither did not come from a browser page at all.
 */
export function crossSiteReason(input: CrossSiteInput): string | null {
  if (SAFE_METHODS.has(input.method.toUpperCase()) || input.bearer) return null;
  if (input.origin !== undefined) {
    const origin = canonicalOrigin(input.origin);
    if (origin !== null) {
      if (isHostOf(origin, input.host)) return null;
      if (input.allowed.some((a) => canonicalOrigin(a) === origin)) return null;
    }
    return `requests from origin ${JSON.stringify(input.origin.slice(0, 100))} may not change anything here; add it to CORS_ORIGINS or use Authorization: Bearer`;
  }
  const site = input.secFetchSite?.toLowerCase();
  if (site === 'cross-site' || site === 'same-site') {
    return 'a request from another site may not change anything here (Sec-Fetch-Site)';
  }
  return null;
}
