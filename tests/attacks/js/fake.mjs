// A scriptable authorization server + MCP resource in one loopback HTTP server, for the npm
// package's attack tests: metadata (RFC 9728, RFC 8414), an /authorize that approves without a
// user, a /token that issues recognisable tokens. Every request is logged; `routes` overrides a
// path with `(req, res, url) => void` (`'*'`: every path).
import { createServer } from 'node:http';
import { once } from 'node:events';

export const REDIRECT = 'http://127.0.0.1:8976/callback';

export async function startFake(routes = {}) {
  const log = [];
  let n = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url, base);
    log.push({ method: req.method, path: url.pathname, url: url.href, headers: req.headers });
    const json = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const route = routes[url.pathname] ?? routes['*'];
    if (route) return route(req, res, url);
    switch (url.pathname) {
      case '/.well-known/oauth-protected-resource/mcp':
      case '/.well-known/oauth-protected-resource':
        return json(200, { resource: `${base}/mcp`, authorization_servers: [base] });
      case '/.well-known/oauth-authorization-server':
        return json(200, {
          issuer: base,
          authorization_endpoint: `${base}/authorize`,
          token_endpoint: `${base}/token`,
          response_types_supported: ['code'],
          grant_types_supported: ['authorization_code', 'refresh_token'],
          code_challenge_methods_supported: ['S256'],
          token_endpoint_auth_methods_supported: ['none'],
          authorization_response_iss_parameter_supported: true,
        });
      case '/authorize': {
        const back = new URL(url.searchParams.get('redirect_uri'));
        back.searchParams.set('code', `code-${++n}`);
        back.searchParams.set('state', url.searchParams.get('state'));
        back.searchParams.set('iss', base);
        res.writeHead(302, { location: back.href });
        return res.end();
      }
      case '/token':
        req.resume();
        return req.on('end', () => json(200, {
          access_token: `secret-access-${++n}`,
          token_type: 'Bearer',
          expires_in: 3600,
          refresh_token: `secret-refresh-${n}`,
        }));
      default:
        return json(404, { error: 'not_found' });
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    base,
    log,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

/** A storage whose every set and delete is recorded. */
export function recordingStorage() {
  const map = new Map();
  const sets = [];
  const deletes = [];
  return {
    map,
    sets,
    deletes,
    get: (k) => map.get(k) ?? null,
    set: (k, v) => { sets.push([k, v]); map.set(k, v); },
    delete: (k) => { deletes.push(k); map.delete(k); },
  };
}

/** A `fetch` that records each request's URL and Authorization header. */
export function recordingFetch() {
  const calls = [];
  const fn = (input, init) => {
    const headers = new Headers(init?.headers);
    calls.push({ url: typeof input === 'string' ? input : input.url ?? input.href, authorization: headers.get('authorization') });
    return fetch(input, init);
  };
  return { fn, calls };
}
