import { OciError } from './errors';

/** An image reference split the way the distribution API needs it. */
export interface ImageRef {
  /** host[:port] of the registry, e.g. `ghcr.io` or `127.0.0.1:5000`. */
  registry: string;
  /** repository path inside the registry, e.g. `acme/mesha-reporter`. */
  repository: string;
  tag?: string;
  digest?: string;
  /** The normalised reference, `registry/repository[:tag][@digest]`. */
  canonical: string;
}

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';
// Grammar from the distribution reference spec, kept short: lowercase path components joined by separators.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?$|^\[[0-9a-fA-F:]+\](?::[0-9]{1,5})?$/;
const MAX_REF_LENGTH = 512;

function bad(ref: string, why: string): OciError {
  return new OciError('bad-ref', `invalid image reference "${ref}": ${why}`);
}

/**
 * Parses `[oci://][registry/]repository[:tag][@sha256:...]`. Like docker, a first component counts as a registry
 * host only if it has a dot or a port or is `localhost`; otherwise the image is on Docker Hub. The tag defaults to
 * `latest` when neither tag nor digest is given.
 */
export function parseImageRef(input: string): ImageRef {
  const raw = input.trim();
  if (raw === '') throw bad(input, 'it is empty');
  if (raw.length > MAX_REF_LENGTH) throw bad(input.slice(0, 40) + '...', 'it is too long');
  let rest = raw.startsWith('oci://') ? raw.slice('oci://'.length) : raw;
  if (/^[a-z]+:\/\//i.test(rest))
    throw bad(raw, 'only oci:// or a plain registry/repository:tag is accepted');

  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(raw, `digest "${digest}" is not sha256:<64 lowercase hex>`);
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag))
      throw bad(raw, `tag "${tag}" may hold only letters, digits, _ . - (max 128)`);
  }

  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  const first = parts[0];
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    parts.shift();
    if (!HOST.test(registry)) throw bad(raw, `registry "${registry}" is not a host[:port]`);
  }
  if (parts.length === 0 || parts.some((p) => !PATH_COMPONENT.test(p))) {
    throw bad(
      raw,
      'the repository must be lowercase letters and digits separated by "/", ".", "_" or "-"',
    );
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (tag === undefined && digest === undefined) tag = 'latest';
  const canonical = `${registry}/${repository}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
  return { registry, repository, tag, digest, canonical };
}

/** The host the API is really served from (Docker Hub's API lives on another name than its image names). */
export function apiHost(ref: ImageRef): string {
  return ref.registry === DOCKER_HUB ? DOCKER_HUB_API : ref.registry;
}

/** What to ask the registry for: the digest when pinned, else the tag. */
export function manifestReference(ref: ImageRef): string {
  return ref.digest ?? ref.tag ?? 'latest';
}
