export { runCli, DEFAULT_WASM_FILE, type CliIo } from './cli';
export {
  list,
  pull,
  push,
  MAX_WASM_BYTES,
  type PullResult,
  type PushResult,
  type RemoteOptions,
} from './commands';
export type { Credentials } from './auth';
export { OciError, type OciErrorKind } from './errors';
export { MediaType, type Descriptor, type ImageManifest } from './media-types';
export { packCompatImage, type PackedImage } from './pack';
export { parseImageRef, type ImageRef } from './reference';
export { defaultStoreDir, type StoredImage } from './store';
export type { Layout } from './unpack';
