import { createHash } from 'node:crypto';
import { basicAuthorization, fetchBearerToken, parseChallenge, type Credentials } from './auth';
import { digestOf } from './digest';
import { OciError } from './errors';
import { discard, readBody, readPrefix } from './http-body';
import { networkCause } from './network-cause';
import { printable } from './terminal-text';
import { MediaType, type Descriptor } from './media-types';
import { apiHost, type ImageRef } from './reference';

export interface RegistryClientOptions {
  /** Speak plain HTTP. Without it only HTTPS is used. */
  insecure?: boolean;
  credentials?: Credentials;
  /** `pull` or `pull,push`: the scope asked of a token endpoint. */
  actions: 'pull' | 'pull,push';
  timeoutMs?: number;
}

export interface FetchedManifest {
  mediaType: string;
  data: Buffer;
  digest: string;
}

const MANIFEST_ACCEPT = [
  MediaType.ociManifest,
  MediaType.dockerManifest,
  MediaType.ociIndex,
  MediaType.dockerManifestList,
].join(', ');
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** What is shown of an error response; the rest of its body is never read. */
const MAX_ERROR_BODY = 2048;

interface RequestOptions {
  headers?: Record<string, string>;
  body?: Buffer;
}

/** A small client for the OCI distribution API, over fetch, for one repository. */
export class RegistryClient {
  private readonly base: string;
  private readonly timeoutMs: number;
  private authorization?: string;

  constructor(
    private readonly ref: ImageRef,
    private readonly options: RegistryClientOptions,
  ) {
    this.base = `${options.insecure ? 'http' : 'https'}://${apiHost(ref)}`;
    this.timeoutMs = options.timeoutMs ?? 60_000;
  }

  get origin(): string {
    return this.base;
  }

  async blobExists(digest: string): Promise<boolean> {
    const res = await this.request('HEAD', this.repoPath(`blobs/${digest}`));
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await this.unexpected(res, `checking blob ${digest}`);
  }

  /** Monolithic upload in two steps: POST opens an upload session, PUT ?digest= sends the bytes and closes it. */
  async uploadBlob(descriptor: Descriptor, data: Buffer): Promise<void> {
    const opened = await this.request('POST', this.repoPath('blobs/uploads/'), {
      headers: { 'content-length': '0' },
    });
    if (opened.status !== 202) throw await this.unexpected(opened, 'opening a blob upload');
    await discard(opened);
    const location = opened.headers.get('location');
    if (!location)
      throw new OciError('registry', 'the registry opened an upload without a Location');
    let url: URL;
    try {
      url = new URL(location, this.base);
    } catch {
      throw new OciError(
        'registry',
        `the registry opened an upload at an invalid Location "${printable(location, 200)}"`,
      );
    }
    url.searchParams.set('digest', descriptor.digest);
    const put = await this.request('PUT', url.toString(), {
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(data.length),
      },
      body: data,
    });
    if (put.status !== 201) throw await this.unexpected(put, `uploading blob ${descriptor.digest}`);
    await discard(put);
  }

  /** PUTs a manifest and checks the digest the registry computed equals ours. */
  async putManifest(reference: string, mediaType: string, data: Buffer): Promise<string> {
    const res = await this.request('PUT', this.repoPath(`manifests/${reference}`), {
      headers: { 'content-type': mediaType },
      body: data,
    });
    if (res.status !== 201) throw await this.unexpected(res, 'putting the manifest');
    await discard(res);
    const ours = digestOf(data);
    const theirs = res.headers.get('docker-content-digest');
    if (theirs && theirs !== ours) {
      throw new OciError(
        'integrity',
        `the registry stored the manifest as ${printable(theirs, 100)}, expected ${ours}`,
      );
    }
    return ours;
  }

  async getManifest(reference: string): Promise<FetchedManifest> {
    const res = await this.request('GET', this.repoPath(`manifests/${reference}`), {
      headers: { accept: MANIFEST_ACCEPT },
    });
    if (res.status === 404) {
      await discard(res);
      throw new OciError('registry', `${this.ref.canonical} was not found in ${this.base}`);
    }
    if (res.status !== 200) throw await this.unexpected(res, 'fetching the manifest');
    const data = await readBody(res, {
      maxBytes: MAX_MANIFEST_BYTES,
      what: 'the manifest',
      tooLarge: 'registry',
    });
    const digest = digestOf(data);
    if (reference.startsWith('sha256:') && reference !== digest) {
      throw new OciError(
        'integrity',
        `manifest digest mismatch: asked for ${reference}, got ${digest}`,
      );
    }
    const announced = res.headers.get('docker-content-digest');
    if (announced && announced !== digest) {
      throw new OciError(
        'integrity',
        `manifest digest mismatch: registry said ${printable(announced, 100)}, content is ${digest}`,
      );
    }
    const header = (res.headers.get('content-type') ?? '').split(';')[0].trim();
    let declared: unknown;
    try {
      declared = (JSON.parse(data.toString('utf8')) as { mediaType?: unknown }).mediaType;
    } catch {
      throw new OciError('registry', 'the manifest is not JSON');
    }
    return { mediaType: typeof declared === 'string' ? declared : header, data, digest };
  }

  /** Downloads a blob, refusing more bytes than its descriptor says, and verifies size and digest. */
  async getBlob(descriptor: Descriptor, maxBytes: number): Promise<Buffer> {
    if (descriptor.size > maxBytes) {
      throw new OciError(
        'registry',
        `blob ${descriptor.digest} is ${descriptor.size} bytes, over ${maxBytes}`,
      );
    }
    const res = await this.request('GET', this.repoPath(`blobs/${descriptor.digest}`));
    if (res.status !== 200) throw await this.unexpected(res, `fetching blob ${descriptor.digest}`);
    const hash = createHash('sha256');
    const data = await readBody(res, {
      maxBytes: descriptor.size,
      what: `blob ${descriptor.digest}`,
      tooLarge: 'integrity',
      onChunk: (chunk) => hash.update(chunk),
    });
    const digest = `sha256:${hash.digest('hex')}`;
    if (data.length !== descriptor.size || digest !== descriptor.digest) {
      throw new OciError(
        'integrity',
        `digest mismatch for blob ${descriptor.digest}: got ${digest} (${data.length} bytes, expected ${descriptor.size})`,
      );
    }
    return data;
  }

  private repoPath(suffix: string): string {
    return `${this.base}/v2/${this.ref.repository}/${suffix}`;
  }

  private async request(
    method: string,
    url: string,
    options: RequestOptions = {},
  ): Promise<Response> {
    const first = await this.send(method, url, options);
    if (first.status !== 401) return this.checkForbidden(first);
    const challenge = parseChallenge(first.headers.get('www-authenticate'));
    await discard(first);
    const hadAuthorization = this.authorization !== undefined;
    await this.authenticate(challenge);
    const second = await this.send(method, url, options);
    if (second.status === 401) {
      await discard(second);
      const who = this.options.credentials
        ? `"${this.options.credentials.username}"`
        : 'anonymous access';
      throw new OciError(
        'auth',
        `${this.base} rejected ${who}${hadAuthorization ? ' again' : ''} (HTTP 401): check --username/--password`,
      );
    }
    return this.checkForbidden(second);
  }

  private async checkForbidden(res: Response): Promise<Response> {
    if (res.status !== 403) return res;
    const detail = await errorDetail(res);
    throw new OciError(
      'auth',
      `${this.base} refused access to ${this.ref.repository} (HTTP 403)${detail ? `: ${detail}` : ''}`,
    );
  }

  private async authenticate(challenge: ReturnType<typeof parseChallenge>): Promise<void> {
    const { credentials, insecure = false } = this.options;
    if (challenge?.scheme === 'bearer') {
      const scopes = [`repository:${this.ref.repository}:${this.options.actions}`];
      if (challenge.scope && !scopes.includes(challenge.scope)) scopes.push(challenge.scope);
      const token = await fetchBearerToken({
        challenge,
        scopes,
        credentials,
        insecure,
        timeoutMs: this.timeoutMs,
      });
      this.authorization = `Bearer ${token}`;
      return;
    }
    if (challenge?.scheme === 'basic') {
      if (!credentials) {
        throw new OciError(
          'auth',
          `${this.base} requires credentials: pass --username/--password or set MESHA_REGISTRY_USERNAME/MESHA_REGISTRY_PASSWORD`,
        );
      }
      this.authorization = basicAuthorization(credentials);
      return;
    }
    throw new OciError('auth', `${this.base} answered 401 without a Basic or Bearer challenge`);
  }

  private async send(method: string, url: string, options: RequestOptions): Promise<Response> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.authorization) headers.authorization = this.authorization;
    try {
      return await fetch(url, {
        method,
        headers,
        body: options.body,
        redirect: 'follow',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const cause = networkCause(err);
      const hint =
        !this.options.insecure &&
        /EPROTO|SSL|TLS|wrong version number|packet length|ECONNRESET/i.test(cause)
          ? ' (if this registry speaks plain HTTP, pass --insecure)'
          : '';
      throw new OciError('unreachable', `cannot reach registry ${this.base}: ${cause}${hint}`);
    }
  }

  private async unexpected(res: Response, doing: string): Promise<OciError> {
    const detail = await errorDetail(res);
    return new OciError(
      'registry',
      `${doing}: ${this.base} answered HTTP ${res.status}${detail ? ` (${detail})` : ''}`,
    );
  }
}

/** The distribution API's error list (`{"errors":[{code,message}]}`) or the body's text: its first bytes only. */
async function errorDetail(res: Response): Promise<string> {
  const text = await readPrefix(res, MAX_ERROR_BODY);
  let detail: string;
  try {
    const parsed = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    detail = (parsed.errors ?? []).map((e) => `${String(e.code)}: ${String(e.message)}`).join('; ');
  } catch {
    detail = text;
  }
  return printable(detail.trim(), MAX_ERROR_BODY);
}
