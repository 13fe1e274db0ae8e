import { describe, expect, it } from 'vitest';
import { canonicalOrigin, crossSiteReason } from './csrf.js';

const base = {
  method: 'POST',
  origin: undefined,
  secFetchSite: undefined,
  bearer: false,
  host: 'api.example:8080',
  allowed: ['https://app.example'],
};

describe('crossSiteReason', () => {
  it('lets same-origin and configured origins through', () => {
    expect(crossSiteReason({ ...base, origin: 'http://api.example:8080' })).toBeNull();
    expect(crossSiteReason({ ...base, origin: 'HTTP://API.EXAMPLE:8080' })).toBeNull();
    // A TLS-terminating proxy: the page is https, the api sees http on the same host.
    expect(crossSiteReason({ ...base, origin: 'https://api.example:8080' })).toBeNull();
    expect(crossSiteReason({ ...base, host: 'api.example', origin: 'https://api.example' })).toBeNull();
    expect(crossSiteReason({ ...base, host: 'api.example:443', origin: 'https://api.example' })).toBeNull();
    expect(crossSiteReason({ ...base, origin: 'https://app.example:443' })).toBeNull();
  });

  it('refuses another origin or port, a look-alike host, and the opaque `null` origin', () => {
    const others = [
      'https://evil.example',
      'http://api.example:9090',
      'http://api.example.evil:8080',
      'null',
    ];
    for (const origin of others) {
      expect(crossSiteReason({ ...base, origin })).toMatch(/CORS_ORIGINS/);
    }
  });

  it('falls back to Sec-Fetch-Site without an Origin, and lets programs without either through', () => {
    expect(crossSiteReason({ ...base, secFetchSite: 'cross-site' })).toMatch(/another site/);
    expect(crossSiteReason({ ...base, secFetchSite: 'same-site' })).toMatch(/another site/);
    expect(crossSiteReason({ ...base, secFetchSite: 'same-origin' })).toBeNull();
    expect(crossSiteReason({ ...base, secFetchSite: 'none' })).toBeNull();
    expect(crossSiteReason(base)).toBeNull();
  });

  it('never refuses safe methods or Bearer-authenticated requests', () => {
    expect(crossSiteReason({ ...base, method: 'GET', origin: 'https://evil.example' })).toBeNull();
    expect(crossSiteReason({ ...base, method: 'options', origin: 'https://evil.example' })).toBeNull();
    expect(crossSiteReason({ ...base, bearer: true, origin: 'https://evil.example' })).toBeNull();
    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      expect(crossSiteReason({ ...base, method, origin: 'https://evil.example' })).not.toBeNull();
    }
  });

  it('normalizes origins', () => {
    expect(canonicalOrigin('http://a.example:80')).toBe('http://a.example');
    expect(canonicalOrigin('file:///etc')).toBeNull();
    expect(canonicalOrigin('not a url')).toBeNull();
  });
});
