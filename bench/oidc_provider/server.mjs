// node oidc-provider configured like the Belay bench: the yardstick of bench/.
//
//   node server.mjs <port> <config.json>
//
// config.json: {"client_id", "client_secret", "redirect_uri",
//               "users": {"<name>": {"password": "...", "totp": "<base32>"}}}
//
// One confidential client (client_secret_basic, PKCE S256 required, ES256 ID
// tokens), a form login at /interaction/<uid> (username + password, scrypt-
// hashed at start), a TOTP step-up when the request asks for an essential acr
// of urn:belay:acr:2fa, and consent granted for the first-party client (as
// Belay's --first-party). Storage is in memory (MapAdapter below: oidc-provider's
// own memory adapter is an LRU of 1000 entries, which evicts live sessions under
// load), in one process: memory cannot be shared between cluster workers.
import { createHmac, generateKeyPairSync, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const config = JSON.parse(readFileSync(process.argv[3], 'utf8'));
const issuer = `http://127.0.0.1:${port}`;
const ACR_1FA = 'urn:belay:acr:1fa';
const ACR_2FA = 'urn:belay:acr:2fa';

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-es256', alg: 'ES256', use: 'sig' };

// Passwords are checked against a slow hash, as in any real deployment.
const users = new Map();
for (const [name, user] of Object.entries(config.users)) {
  const salt = randomBytes(16);
  users.set(name, {
    salt,
    hash: scryptSync(user.password, salt, 32),
    totp: user.totp ? base32(user.totp) : null,
    lastStep: -1,
  });
}

function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/=+$/, '').toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  }
  const out = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) out.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(out);
}

function totpAt(key, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1000000).padStart(6, '0');
}

function checkTotp(user, code) {
  const now = Math.floor(Date.now() / 30000);
  for (const step of [now - 1, now, now + 1]) {
    if (step > user.lastStep && totpAt(user.totp, step) === code) {
      user.lastStep = step; // a code is used once
      return true;
    }
  }
  return false;
}

// Every model in one Map, expiring by TTL, never evicted (swept once a minute).
const store = new Map();
const grants = new Map();
const expired = (entry) => entry.expiresAt !== null && entry.expiresAt <= Date.now();
setInterval(() => {
  for (const [key, entry] of store) if (expired(entry)) store.delete(key);
}, 60000).unref();

class MapAdapter {
  constructor(model) { this.model = model; }

  key(id) { return `${this.model}:${id}`; }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : null;
    store.set(key, { payload, expiresAt });
    if (payload.uid) store.set(`uid:${this.model}:${payload.uid}`, { payload: id, expiresAt });
    if (payload.grantId) {
      if (!grants.has(payload.grantId)) grants.set(payload.grantId, new Set());
      grants.get(payload.grantId).add(key);
    }
  }

  async find(id) {
    const entry = store.get(this.key(id));
    if (!entry || expired(entry)) return undefined;
    return entry.payload;
  }

  async findByUid(uid) {
    const entry = store.get(`uid:${this.model}:${uid}`);
    return entry && !expired(entry) ? this.find(entry.payload) : undefined;
  }

  async findByUserCode() { return undefined; }

  async consume(id) {
    const entry = store.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) { store.delete(this.key(id)); }

  async revokeByGrantId(grantId) {
    for (const key of grants.get(grantId) ?? []) store.delete(key);
    grants.delete(grantId);
  }
}

const provider = new Provider(issuer, {
  adapter: MapAdapter,
  clients: [
    {
      client_id: config.client_id,
      client_secret: config.client_secret,
      redirect_uris: [config.redirect_uri],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
  ],
  jwks: { keys: [signingKey] },
  acrValues: [ACR_1FA, ACR_2FA],
  claims: { openid: ['sub'], acr: null, amr: null, auth_time: null },
  features: {
    devInteractions: { enabled: false },
    claimsParameter: { enabled: true },
  },
  pkce: { required: () => true },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  // First-party client: consent is implied (Belay's --first-party).
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid');
    grant.addOIDCClaims(['acr', 'amr', 'auth_time']);
    await grant.save();
    return grant;
  },
});
provider.proxy = false;

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

function page(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><html><body>${html}</body></html>`);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  const signedIn = details.session?.accountId;
  const wantsStepUp = Boolean(signedIn) && details.prompt.reasons.some((r) => r.startsWith('essential_acr'));
  if (req.method === 'GET') {
    if (wantsStepUp) {
      return page(res, 200, `<form method="post" action="/interaction/${uid}/totp">`
        + '<input name="code" autocomplete="one-time-code"><button>Confirm</button></form>');
    }
    return page(res, 200, `<form method="post" action="/interaction/${uid}/login">`
      + '<input name="username"><input name="password" type="password"><button>Sign in</button></form>');
  }
  const form = await readForm(req);
  if (action === 'login') {
    const user = users.get(form.get('username') ?? '');
    const password = form.get('password') ?? '';
    if (!user || !timingSafeEqual(scryptSync(password, user.salt, 32), user.hash)) {
      return page(res, 401, 'wrong username or password');
    }
    return provider.interactionFinished(req, res, {
      login: { accountId: form.get('username'), acr: ACR_1FA, amr: ['pwd'] },
    }, { mergeWithLastSubmission: false });
  }
  if (action === 'totp' && wantsStepUp) {
    const user = users.get(signedIn);
    if (!user?.totp || !checkTotp(user, form.get('code') ?? '')) {
      return page(res, 401, 'wrong code');
    }
    return provider.interactionFinished(req, res, {
      login: { accountId: signedIn, acr: ACR_2FA, amr: ['pwd', 'otp'] },
    }, { mergeWithLastSubmission: false });
  }
  return page(res, 400, 'bad request');
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  const match = /^\/interaction\/([^/?]+)(?:\/(login|totp))?$/.exec(req.url.split('?')[0]);
  if (!match) return callback(req, res);
  interaction(req, res, match[1], match[2]).catch((err) => {
    if (!res.headersSent) page(res, 400, String(err.message));
  });
});
server.keepAliveTimeout = 65000;
server.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
