export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTarGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerTarGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  wasmConfig: 'application/vnd.module.wasm.config.v1+json',
  wasmContentLayer: 'application/vnd.module.wasm.content.layer.v1+wasm',
} as const;

/** The file Istio's image fetcher looks for inside a tar.gz layer. */
export const PLUGIN_FILE_NAME = 'plugin.wasm';

/** Annotation that marks the "compat" variant of the Wasm image spec (a plain OCI image). */
export const COMPAT_VARIANT_ANNOTATION = 'module.wasm.image/variant';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}
