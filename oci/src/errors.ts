/** Why a command failed; each kind maps to its own exit code so scripts can tell them apart. */
export type OciErrorKind =
  'usage' | 'bad-ref' | 'unreachable' | 'auth' | 'integrity' | 'registry' | 'io';

const EXIT_CODES: Record<OciErrorKind, number> = {
  usage: 2,
  'bad-ref': 2,
  unreachable: 3,
  auth: 4,
  integrity: 5,
  registry: 6,
  io: 7,
};

export class OciError extends Error {
  constructor(
    readonly kind: OciErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'OciError';
  }

  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }
}
